// Small SQL-callable helpers used by the extension's own SQL: the caller's role, a timestamp
// parser that reports failure instead of raising, and the log2-space decay arithmetic.
extern "C" {
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"
}

#include "core/decay.hpp"
#include "pg/declaration.hpp"
#include "pg/time_parse.hpp"

namespace recsys_pg {

// Parses a concrete time (see time_parse.hpp).
bool parse_time(const char* input, TimestampTz* out) {
    char workbuf[MAXDATELEN + MAXDATEFIELDS];
    char* field[MAXDATEFIELDS];
    int ftype[MAXDATEFIELDS];
    int nf = 0;
    int dtype = 0;
    int tz = 0;
    fsec_t fsec = 0;
    struct pg_tm tt;

    if (strlen(input) >= MAXDATELEN) return false;
    if (ParseDateTime(input, workbuf, sizeof(workbuf), field, ftype, MAXDATEFIELDS, &nf) != 0) return false;
    if (DecodeDateTime(field, ftype, nf, &dtype, &tt, &fsec, &tz) != 0) return false;
    if (dtype != DTK_DATE) return false;
    if (tm2timestamp(&tt, fsec, &tz, out) != 0) return false;
    return IS_VALID_TIMESTAMP(*out);
}

}  // namespace recsys_pg

extern "C" {

PG_FUNCTION_INFO_V1(recsys_caller_role);
PG_FUNCTION_INFO_V1(recsys_try_timestamptz);
PG_FUNCTION_INFO_V1(recsys_log2_add);
PG_FUNCTION_INFO_V1(recsys_log2_event);

// The role that called in, ignoring SECURITY DEFINER: the session's current role after SET ROLE.
Datum recsys_caller_role(PG_FUNCTION_ARGS) {
    PG_RETURN_OID(GetOuterUserId());
}

// Parses text as timestamptz; returns NULL instead of raising when it is not a concrete time.
Datum recsys_try_timestamptz(PG_FUNCTION_ARGS) {
    recsys_pg::check_arguments(fcinfo, 1);
    TimestampTz result;
    if (!recsys_pg::parse_time(text_to_cstring(PG_GETARG_TEXT_PP(0)), &result)) PG_RETURN_NULL();
    PG_RETURN_TIMESTAMPTZ(result);
}

// log2(2^a + 2^b): the transition function of the log2_sum aggregate.
Datum recsys_log2_add(PG_FUNCTION_ARGS) {
    recsys_pg::check_arguments(fcinfo, 2);
    if (PG_ARGISNULL(0)) {
        if (PG_ARGISNULL(1)) PG_RETURN_NULL();
        PG_RETURN_FLOAT8(PG_GETARG_FLOAT8(1));
    }
    if (PG_ARGISNULL(1)) PG_RETURN_FLOAT8(PG_GETARG_FLOAT8(0));
    PG_RETURN_FLOAT8(recsys::log2_add(PG_GETARG_FLOAT8(0), PG_GETARG_FLOAT8(1)));
}

// log2 contribution of one event: log2(weight) + days / half_life_days.
Datum recsys_log2_event(PG_FUNCTION_ARGS) {
    recsys_pg::check_arguments(fcinfo, 3);
    PG_RETURN_FLOAT8(recsys::log2_event(PG_GETARG_FLOAT8(0), PG_GETARG_FLOAT8(1), PG_GETARG_FLOAT8(2)));
}

}  // extern "C"

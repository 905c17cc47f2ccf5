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
    char* input = text_to_cstring(PG_GETARG_TEXT_PP(0));
    char workbuf[MAXDATELEN + MAXDATEFIELDS];
    char* field[MAXDATEFIELDS];
    int ftype[MAXDATEFIELDS];
    int nf = 0;
    int dtype = 0;
    int tz = 0;
    fsec_t fsec = 0;
    struct pg_tm tt;
    TimestampTz result;

    if (strlen(input) >= MAXDATELEN) PG_RETURN_NULL();
    if (ParseDateTime(input, workbuf, sizeof(workbuf), field, ftype, MAXDATEFIELDS, &nf) != 0) PG_RETURN_NULL();
    if (DecodeDateTime(field, ftype, nf, &dtype, &tt, &fsec, &tz) != 0) PG_RETURN_NULL();
    if (dtype != DTK_DATE) PG_RETURN_NULL();  // 'now', 'epoch', 'infinity' and the like are refused
    if (tm2timestamp(&tt, fsec, &tz, &result) != 0) PG_RETURN_NULL();
    if (!IS_VALID_TIMESTAMP(result)) PG_RETURN_NULL();
    PG_RETURN_TIMESTAMPTZ(result);
}

// log2(2^a + 2^b): the transition function of the log2_sum aggregate.
Datum recsys_log2_add(PG_FUNCTION_ARGS) {
    if (PG_ARGISNULL(0)) {
        if (PG_ARGISNULL(1)) PG_RETURN_NULL();
        PG_RETURN_FLOAT8(PG_GETARG_FLOAT8(1));
    }
    if (PG_ARGISNULL(1)) PG_RETURN_FLOAT8(PG_GETARG_FLOAT8(0));
    PG_RETURN_FLOAT8(recsys::log2_add(PG_GETARG_FLOAT8(0), PG_GETARG_FLOAT8(1)));
}

// log2 contribution of one event: log2(weight) + days / half_life_days.
Datum recsys_log2_event(PG_FUNCTION_ARGS) {
    PG_RETURN_FLOAT8(recsys::log2_event(PG_GETARG_FLOAT8(0), PG_GETARG_FLOAT8(1), PG_GETARG_FLOAT8(2)));
}

}  // extern "C"

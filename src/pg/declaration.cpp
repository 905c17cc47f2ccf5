// Agreement of the entry points with their SQL declarations (see declaration.hpp).
#include "pg/declaration.hpp"

extern "C" {
#include "access/htup_details.h"
#include "catalog/pg_proc.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/regproc.h"
#include "utils/syscache.h"
}

namespace recsys_pg {
namespace {

// Raises 55000 naming the called SQL function and the library entry behind it.
[[noreturn]] void raise_mismatch(FunctionCallInfo fcinfo, const char* what, int library, int declared) {
    Oid function = fcinfo->flinfo->fn_oid;
    HeapTuple proc = SearchSysCache1(PROCOID, ObjectIdGetDatum(function));
    if (!HeapTupleIsValid(proc)) elog(ERROR, "cache lookup failed for function %u", function);
    bool isnull;
    Datum symbol = SysCacheGetAttr(PROCOID, proc, Anum_pg_proc_prosrc, &isnull);
    char* entry = isnull ? pstrdup("?") : TextDatumGetCString(symbol);
    ReleaseSysCache(proc);
    ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                    errmsg("function %s does not match the loaded recsys library", format_procedure(function)),
                    errdetail("The library's %s has %d %s; the SQL declaration has %d.", entry, library, what, declared),
                    errhint("Run ALTER EXTENSION recsys UPDATE, or install the library that matches the installed "
                            "version of the extension.")));
    pg_unreachable();
}

}  // namespace

void check_arguments(FunctionCallInfo fcinfo, int args) {
    if (PG_NARGS() != args) raise_mismatch(fcinfo, "arguments", args, PG_NARGS());
}

ReturnSetInfo* init_result_rows(FunctionCallInfo fcinfo, int columns) {
    InitMaterializedSRF(fcinfo, 0);
    ReturnSetInfo* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
    if (rsinfo->setDesc->natts != columns) raise_mismatch(fcinfo, "result columns", columns, rsinfo->setDesc->natts);
    return rsinfo;
}

TupleDesc result_row_type(FunctionCallInfo fcinfo, int columns) {
    TupleDesc desc;
    if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE) raise_mismatch(fcinfo, "result columns", columns, 1);
    if (desc->natts != columns) raise_mismatch(fcinfo, "result columns", columns, desc->natts);
    return BlessTupleDesc(desc);
}

}  // namespace recsys_pg

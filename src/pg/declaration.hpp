// Checks that an entry point and the SQL declaration it is called through agree. A library newer
// or older than the installed SQL (the state between installing a package and ALTER EXTENSION
// UPDATE) must raise an error, not read arguments or fill result columns that are not there.
#pragma once

extern "C" {
#include "postgres.h"

#include "access/tupdesc.h"
#include "fmgr.h"
#include "nodes/execnodes.h"
}

namespace recsys_pg {

// Raises 55000 unless the call's declaration has `args` arguments; call before reading any.
void check_arguments(FunctionCallInfo fcinfo, int args);

// Sets up a set-returning call's result rows (InitMaterializedSRF) and returns where they go;
// raises 55000 unless the declared rows have `columns` columns.
ReturnSetInfo* init_result_rows(FunctionCallInfo fcinfo, int columns);

// The declared row type of a call returning one row, blessed; raises 55000 unless it is a row of
// `columns` columns.
TupleDesc result_row_type(FunctionCallInfo fcinfo, int columns);

}  // namespace recsys_pg

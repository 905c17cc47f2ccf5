// Prepared SPI plans kept for the backend's life, and reading columns of SPI result rows.
#pragma once

extern "C" {
#include "postgres.h"

#include "access/htup.h"
#include "access/tupdesc.h"
#include "executor/spi.h"
}

namespace recsys_pg {

// Prepares `sql` once per backend (kept across transactions), with SPI cursor options.
SPIPlanPtr prepared(SPIPlanPtr* plan, const char* sql, int nargs, Oid* types, int options = 0);

// Column `col` (1-based) of the current row, or NULL.
Datum column(HeapTuple row, TupleDesc desc, int col, bool* isnull);

// Text column as a C string ("" for NULL).
const char* text_column(HeapTuple row, TupleDesc desc, int col);

// Elements of an array column (none for NULL).
void array_column(HeapTuple row, TupleDesc desc, int col, Oid type, Datum** values, bool** nulls, int* count);

}  // namespace recsys_pg

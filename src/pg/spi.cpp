// Prepared SPI plans and SPI row columns (see spi.hpp).
#include "pg/spi.hpp"

extern "C" {
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
}

namespace recsys_pg {

// Prepares `sql` once per backend (kept across transactions), with SPI cursor options.
SPIPlanPtr prepared(SPIPlanPtr* plan, const char* sql, int nargs, Oid* types, int options) {
    if (*plan == nullptr) {
        SPIPlanPtr p = SPI_prepare_cursor(sql, nargs, types, options);
        if (p == nullptr) elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
        SPI_keepplan(p);
        *plan = p;
    }
    return *plan;
}

// Column `col` (1-based) of the current row, or NULL.
Datum column(HeapTuple row, TupleDesc desc, int col, bool* isnull) {
    return SPI_getbinval(row, desc, col, isnull);
}

// Text column as a C string ("" for NULL).
const char* text_column(HeapTuple row, TupleDesc desc, int col) {
    bool isnull;
    Datum d = column(row, desc, col, &isnull);
    return isnull ? "" : TextDatumGetCString(d);
}

// Elements of an array column (none for NULL).
void array_column(HeapTuple row, TupleDesc desc, int col, Oid type, Datum** values, bool** nulls, int* count) {
    bool isnull;
    Datum d = column(row, desc, col, &isnull);
    *count = 0;
    if (isnull) return;
    int16 len;
    bool byval;
    char align;
    get_typlenbyvalalign(type, &len, &byval, &align);
    deconstruct_array(DatumGetArrayTypeP(d), type, len, byval, align, values, nulls, count);
}

}  // namespace recsys_pg

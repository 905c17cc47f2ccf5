// Reading array arguments of SQL functions into plain C data.
#pragma once

extern "C" {
#include "postgres.h"

#include "fmgr.h"
}

namespace recsys_pg {

// The elements of a one-dimensional array argument, with their null flags (palloc'd); an
// SQL NULL argument reads as an empty array.
struct ArrayArg {
    Datum* values;
    bool* nulls;
    int count;
};

ArrayArg array_arg(FunctionCallInfo fcinfo, int arg, Oid element_type);

// Text element i as a C string ("" for NULL or past the end).
const char* text_at(const ArrayArg& a, int i);

// The elements of a text[] argument as palloc'd C strings ("" for NULL elements); `count`
// receives their number (0 for an SQL NULL argument).
const char** text_elements(FunctionCallInfo fcinfo, int arg, int* count);

// Float8 element i, NaN for NULL or past the end.
double float8_at(const ArrayArg& a, int i);

// Separator of the tags of one item inside a single text element.
constexpr char tag_separator = '\x1f';

}  // namespace recsys_pg

// See arrays.hpp.
#include "pg/arrays.hpp"

#include <cmath>

extern "C" {
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
}

namespace recsys_pg {

ArrayArg array_arg(FunctionCallInfo fcinfo, int arg, Oid element_type) {
    ArrayArg out{nullptr, nullptr, 0};
    if (PG_ARGISNULL(arg)) return out;
    ArrayType* array = PG_GETARG_ARRAYTYPE_P(arg);
    int16 typlen;
    bool typbyval;
    char typalign;
    get_typlenbyvalalign(element_type, &typlen, &typbyval, &typalign);
    deconstruct_array(array, element_type, typlen, typbyval, typalign, &out.values, &out.nulls, &out.count);
    return out;
}

const char* text_at(const ArrayArg& a, int i) {
    if (i >= a.count || a.nulls[i]) return "";
    return text_to_cstring(DatumGetTextPP(a.values[i]));
}

const char** text_elements(FunctionCallInfo fcinfo, int arg, int* count) {
    ArrayArg a = array_arg(fcinfo, arg, TEXTOID);
    const char** out = static_cast<const char**>(palloc(sizeof(char*) * (a.count + 1)));
    for (int i = 0; i < a.count; ++i) out[i] = text_at(a, i);
    *count = a.count;
    return out;
}

double float8_at(const ArrayArg& a, int i) {
    if (i >= a.count || a.nulls[i]) return NAN;
    return DatumGetFloat8(a.values[i]);
}

}  // namespace recsys_pg

// Segment conditions evaluated in C: recsys._condition_matches(node, doc, at) walks a condition
// (validated at upsert by recsys._condition_problem) over the request document {user: {user_id,
// traits}, context, request}. Semantics (docs/functions.md, Segments):
//   all / any / not      over nested conditions ({"all": []} holds, {"any": []} is refused at upsert);
//   exists path          the path leads to a value other than JSON null;
//   eq / neq             JSON equality of the value at path and the operand (a missing value is
//                        "not equal");
//   in                   the operand array contains the value;
//   contains             an array value contains the operand, or a string value contains it as a
//                        substring;
//   gt / gte / lt / lte  number with number or string with string (jsonb ordering), else false;
//   gte_days_since       the value (timestamp string or epoch seconds) lies at least that many
//                        days before `at`.
// Plain C over jsonb containers: no C++ object lives here, so ereport may longjmp freely.
extern "C" {
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
}

#include "pg/declaration.hpp"
#include "pg/time_parse.hpp"

namespace {

// The value of `key` (length len) in an object container or, when the container is an array and
// the key an integer (negative counts from the end, as #> does), that element.
bool step(JsonbContainer* container, const char* key, int len, JsonbValue* out) {
    if (JsonContainerIsObject(container)) return getKeyJsonValueFromContainer(container, key, len, out) != nullptr;
    if (!JsonContainerIsArray(container) || len == 0 || len > 10) return false;
    char buffer[16];
    memcpy(buffer, key, len);
    buffer[len] = '\0';
    char* end;
    long index = strtol(buffer, &end, 10);
    if (*end != '\0') return false;
    long count = JsonContainerSize(container);
    if (index < 0) index += count;
    if (index < 0 || index >= count) return false;
    JsonbValue* found = getIthJsonbValueFromContainer(container, static_cast<uint32>(index));
    if (found == nullptr) return false;
    *out = *found;
    return true;
}

// The value at a dotted path ("user.traits.tier") in doc; false when there is none.
bool value_at(Jsonb* doc, const JsonbValue& path, JsonbValue* out) {
    if (path.type != jbvString) return false;
    const char* p = path.val.string.val;
    int left = path.val.string.len;
    JsonbContainer* container = &doc->root;
    for (;;) {
        int len = 0;
        while (len < left && p[len] != '.') ++len;
        if (!step(container, p, len, out)) return false;
        if (len == left) return true;
        if (out->type != jbvBinary) return false;
        container = out->val.binary.data;
        p += len + 1;
        left -= len + 1;
    }
}

// A JsonbValue (scalar or container) as a jsonb datum.
Datum as_jsonb(JsonbValue* v) {
    return JsonbPGetDatum(JsonbValueToJsonb(v));
}

// [v] as a jsonb datum.
Datum single_array(JsonbValue* v) {
    JsonbParseState* state = nullptr;
    pushJsonbValue(&state, WJB_BEGIN_ARRAY, nullptr);
    pushJsonbValue(&state, WJB_ELEM, v);
    return JsonbPGetDatum(JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_ARRAY, nullptr)));
}

// The JSON type of a value as jsonb_typeof names it.
const char* type_of(const JsonbValue& v) {
    switch (v.type) {
        case jbvNull: return "null";
        case jbvString: return "string";
        case jbvNumeric: return "number";
        case jbvBool: return "boolean";
        case jbvBinary: return JsonContainerIsArray(v.val.binary.data) ? "array" : "object";
        default: return "object";
    }
}

// The time a value stands for (a timestamp string, or epoch seconds below 1e11), as
// recsys._json_time reads it.
bool time_of(const JsonbValue& v, TimestampTz* out) {
    if (v.type == jbvString) {
        char* text = pnstrdup(v.val.string.val, v.val.string.len);
        return recsys_pg::parse_time(text, out);
    }
    if (v.type != jbvNumeric) return false;
    double seconds = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v.val.numeric)));
    if (!(seconds > -1e11 && seconds < 1e11)) return false;
    *out = DatumGetTimestampTz(DirectFunctionCall1(float8_timestamptz, Float8GetDatum(seconds)));
    return true;
}

bool matches(JsonbContainer* node, Jsonb* doc, TimestampTz at);

// Whether the conditions of an array container all hold (want_all) or any holds.
bool combine(JsonbContainer* conditions, Jsonb* doc, TimestampTz at, bool want_all) {
    uint32 count = JsonContainerSize(conditions);
    for (uint32 i = 0; i < count; ++i) {
        JsonbValue* child = getIthJsonbValueFromContainer(conditions, i);
        bool holds = child != nullptr && child->type == jbvBinary && matches(child->val.binary.data, doc, at);
        if (holds != want_all) return holds;
    }
    return want_all;
}

// Whether the condition `node` ({operator: argument}) holds for doc.
bool matches(JsonbContainer* node, Jsonb* doc, TimestampTz at) {
    check_stack_depth();
    JsonbIterator* it = JsonbIteratorInit(node);
    JsonbValue key, arg;
    if (JsonbIteratorNext(&it, &key, true) != WJB_BEGIN_OBJECT || JsonbIteratorNext(&it, &key, true) != WJB_KEY ||
        JsonbIteratorNext(&it, &arg, true) != WJB_VALUE)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("a segment condition must be an object with one operator")));
    char* op = pnstrdup(key.val.string.val, key.val.string.len);
    bool is_array = arg.type == jbvBinary && JsonContainerIsArray(arg.val.binary.data);
    if (strcmp(op, "all") == 0 || strcmp(op, "any") == 0)
        return is_array && combine(arg.val.binary.data, doc, at, op[1] == 'l');
    if (strcmp(op, "not") == 0) return !(arg.type == jbvBinary && matches(arg.val.binary.data, doc, at));
    JsonbValue path, operand, v;
    if (strcmp(op, "exists") == 0) {
        if (is_array) {
            JsonbValue* first = getIthJsonbValueFromContainer(arg.val.binary.data, 0);
            if (first == nullptr) return false;
            path = *first;
        } else {
            path = arg;
        }
        return value_at(doc, path, &v) && v.type != jbvNull;
    }
    if (!is_array || JsonContainerSize(arg.val.binary.data) != 2)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("segment operator \"%s\" expects [path, value]", op)));
    path = *getIthJsonbValueFromContainer(arg.val.binary.data, 0);
    operand = *getIthJsonbValueFromContainer(arg.val.binary.data, 1);
    if (!value_at(doc, path, &v) || v.type == jbvNull) return strcmp(op, "neq") == 0;
    if (strcmp(op, "eq") == 0) return DatumGetBool(DirectFunctionCall2(jsonb_eq, as_jsonb(&v), as_jsonb(&operand)));
    if (strcmp(op, "neq") == 0) return DatumGetBool(DirectFunctionCall2(jsonb_ne, as_jsonb(&v), as_jsonb(&operand)));
    if (strcmp(op, "in") == 0)
        return DatumGetBool(DirectFunctionCall2(jsonb_contains, as_jsonb(&operand), single_array(&v)));
    if (strcmp(op, "contains") == 0) {
        if (v.type == jbvBinary && JsonContainerIsArray(v.val.binary.data))
            return DatumGetBool(DirectFunctionCall2(jsonb_contains, as_jsonb(&v), single_array(&operand)));
        if (v.type != jbvString || operand.type != jbvString) return false;
        if (operand.val.string.len == 0) return true;
        for (int i = 0; i + operand.val.string.len <= v.val.string.len; ++i)
            if (memcmp(v.val.string.val + i, operand.val.string.val, operand.val.string.len) == 0) return true;
        return false;
    }
    if (strcmp(op, "gte_days_since") == 0) {
        TimestampTz since;
        if (!time_of(v, &since) || operand.type != jbvNumeric) return false;
        double days = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(operand.val.numeric)));
        return static_cast<double>(at - since) >= days * 86400.0 * USECS_PER_SEC;
    }
    const char* type = type_of(v);
    if (strcmp(type, type_of(operand)) != 0 || (v.type != jbvNumeric && v.type != jbvString)) return false;
    PGFunction compare = strcmp(op, "gt") == 0    ? jsonb_gt
                         : strcmp(op, "gte") == 0 ? jsonb_ge
                         : strcmp(op, "lt") == 0  ? jsonb_lt
                         : strcmp(op, "lte") == 0 ? jsonb_le
                                                  : nullptr;
    if (compare == nullptr)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("unknown segment operator \"%s\"", op)));
    return DatumGetBool(DirectFunctionCall2(compare, as_jsonb(&v), as_jsonb(&operand)));
}

}  // namespace

extern "C" {

PG_FUNCTION_INFO_V1(recsys_condition_matches);

// _condition_matches(node jsonb, doc jsonb, at timestamptz) -> boolean (see the header comment).
Datum recsys_condition_matches(PG_FUNCTION_ARGS) {
    recsys_pg::check_arguments(fcinfo, 3);
    Jsonb* node = PG_GETARG_JSONB_P(0);
    Jsonb* doc = PG_GETARG_JSONB_P(1);
    if (!JB_ROOT_IS_OBJECT(node) || JB_ROOT_IS_SCALAR(node))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("a segment condition must be an object with one operator")));
    PG_RETURN_BOOL(matches(&node->root, doc, PG_GETARG_TIMESTAMPTZ(2)));
}

}  // extern "C"

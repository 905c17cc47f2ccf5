// Active rules as C function arguments, and recsys._apply_rules: the effect of the rules on a
// list of items (src/core/rules.cpp), behind recsys._rule_hits and the rule primitives.
#include "pg/rules.hpp"

#include <unordered_set>

#include "pg/arrays.hpp"
#include "pg/boundary.hpp"
#include "pg/catalog_cache.hpp"
#include "pg/declaration.hpp"
#include "pg/spi.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
}

namespace recsys_pg {

RuleArgs rule_args(FunctionCallInfo fcinfo, int first) {
    RuleArgs r;
    r.ids = text_elements(fcinfo, first, &r.count);
    int actions = 0, tags = 0, brands = 0, categories = 0, target_ids = 0;
    r.actions = text_elements(fcinfo, first + 1, &actions);
    ArrayArg boosts = array_arg(fcinfo, first + 2, FLOAT8OID);
    ArrayArg priorities = array_arg(fcinfo, first + 3, INT4OID);
    ArrayArg max_pins = array_arg(fcinfo, first + 4, INT4OID);
    r.tags = text_elements(fcinfo, first + 5, &tags);
    r.brands = text_elements(fcinfo, first + 6, &brands);
    r.categories = text_elements(fcinfo, first + 7, &categories);
    ArrayArg target_rules = array_arg(fcinfo, first + 8, INT4OID);
    r.target_ids = text_elements(fcinfo, first + 9, &target_ids);
    if (actions != r.count || boosts.count != r.count || priorities.count != r.count || max_pins.count != r.count ||
        tags != r.count || brands != r.count || categories != r.count || target_rules.count != target_ids)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("rule arrays differ in length")));
    r.boosts = static_cast<double*>(palloc(sizeof(double) * (r.count + 1)));
    r.priorities = static_cast<int*>(palloc(sizeof(int) * (r.count + 1)));
    r.max_pins = static_cast<int*>(palloc(sizeof(int) * (r.count + 1)));
    for (int i = 0; i < r.count; ++i) {
        r.boosts[i] = boosts.nulls[i] ? 0.0 : DatumGetFloat8(boosts.values[i]);
        r.priorities[i] = priorities.nulls[i] ? 0 : DatumGetInt32(priorities.values[i]);
        r.max_pins[i] = max_pins.nulls[i] ? 1 : DatumGetInt32(max_pins.values[i]);
    }
    r.target_count = target_ids;
    r.target_rules = static_cast<int*>(palloc(sizeof(int) * (target_ids + 1)));
    for (int i = 0; i < target_ids; ++i) {
        r.target_rules[i] = target_rules.nulls[i] ? 0 : DatumGetInt32(target_rules.values[i]);
        if (r.target_rules[i] < 1 || r.target_rules[i] > r.count)
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("target id %d names no rule", i + 1)));
    }
    return r;
}

std::vector<recsys::Rule> to_rules(const RuleArgs& args) {
    std::vector<recsys::Rule> rules(static_cast<size_t>(args.count));
    for (int i = 0; i < args.count; ++i) {
        recsys::Rule& r = rules[static_cast<size_t>(i)];
        r.rule_id = args.ids[i];
        r.action = args.actions[i];
        r.boost = args.boosts[i];
        r.priority = args.priorities[i];
        r.max_pins = args.max_pins[i];
        if (args.tags[i][0] != '\0') r.target.tags.emplace_back(args.tags[i]);
        if (args.brands[i][0] != '\0') r.target.brands.emplace_back(args.brands[i]);
        if (args.categories[i][0] != '\0') r.target.categories.emplace_back(args.categories[i]);
    }
    for (int t = 0; t < args.target_count; ++t)
        rules[static_cast<size_t>(args.target_rules[t] - 1)].target.item_ids.emplace_back(args.target_ids[t]);
    return rules;
}

// The value of `key` in a rule target, or nullptr.
static JsonbValue* target_value(Jsonb* target, const char* key) {
    if (target == nullptr) return nullptr;
    return getKeyJsonValueFromContainer(&target->root, key, static_cast<int>(strlen(key)), nullptr);
}

// A string field of a rule target as a palloc'd C string ("" when absent).
static const char* target_string(Jsonb* target, const char* key) {
    JsonbValue* value = target_value(target, key);
    if (value == nullptr || value->type != jbvString) return "";
    return pnstrdup(value->val.string.val, value->val.string.len);
}

RuleArgs active_rules(FunctionCallInfo fcinfo, MemoryContext keep) {
    static SPIPlanPtr plan = nullptr;
    Oid types[5] = {UUIDOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID};
    Datum args[5];
    char nulls[5];
    for (int i = 0; i < 5; ++i) {
        args[i] = PG_ARGISNULL(i) ? static_cast<Datum>(0) : PG_GETARG_DATUM(i);
        nulls[i] = PG_ARGISNULL(i) ? 'n' : ' ';
    }
    int rc = SPI_execute_plan(
        prepared(&plan,
                 "SELECT a.rule_id::text, a.action, coalesce(a.boost, 0)::float8, a.priority, coalesce(a.max_pins, 1), "
                 "       a.target "
                 "  FROM recsys._active_rules($1, $2, $3, $4, $5) a ORDER BY a.priority DESC, a.rule_id",
                 5, types, CURSOR_OPT_GENERIC_PLAN),
        args, nulls, true, 0);
    if (rc != SPI_OK_SELECT) elog(ERROR, "reading the active rules failed: %s", SPI_result_code_string(rc));
    MemoryContext spi = MemoryContextSwitchTo(keep);
    int n = static_cast<int>(SPI_processed);
    TupleDesc desc = SPI_tuptable->tupdesc;
    RuleArgs r;
    r.count = n;
    r.ids = static_cast<const char**>(palloc(sizeof(char*) * (n + 1)));
    r.actions = static_cast<const char**>(palloc(sizeof(char*) * (n + 1)));
    r.boosts = static_cast<double*>(palloc(sizeof(double) * (n + 1)));
    r.priorities = static_cast<int*>(palloc(sizeof(int) * (n + 1)));
    r.max_pins = static_cast<int*>(palloc(sizeof(int) * (n + 1)));
    r.tags = static_cast<const char**>(palloc(sizeof(char*) * (n + 1)));
    r.brands = static_cast<const char**>(palloc(sizeof(char*) * (n + 1)));
    r.categories = static_cast<const char**>(palloc(sizeof(char*) * (n + 1)));
    // Each rule's target (validated when stored: tag, brand, category strings, item_ids an
    // array of strings), read from the jsonb here rather than by an SQL expression per field.
    JsonbContainer** listed = static_cast<JsonbContainer**>(palloc(sizeof(JsonbContainer*) * (n + 1)));
    r.target_count = 0;
    for (int i = 0; i < n; ++i) {
        HeapTuple row = SPI_tuptable->vals[i];
        bool isnull;
        r.ids[i] = text_column(row, desc, 1);
        r.actions[i] = text_column(row, desc, 2);
        r.boosts[i] = DatumGetFloat8(column(row, desc, 3, &isnull));
        r.priorities[i] = DatumGetInt32(column(row, desc, 4, &isnull));
        r.max_pins[i] = DatumGetInt32(column(row, desc, 5, &isnull));
        Datum column_target = column(row, desc, 6, &isnull);
        Jsonb* target = isnull ? nullptr : DatumGetJsonbP(column_target);
        r.tags[i] = target_string(target, "tag");
        r.brands[i] = target_string(target, "brand");
        r.categories[i] = target_string(target, "category");
        JsonbValue* item_ids = target_value(target, "item_ids");
        listed[i] = item_ids != nullptr && item_ids->type == jbvBinary ? item_ids->val.binary.data : nullptr;
        if (listed[i] != nullptr) r.target_count += static_cast<int>(JsonContainerSize(listed[i]));
    }
    r.target_rules = static_cast<int*>(palloc(sizeof(int) * (r.target_count + 1)));
    r.target_ids = static_cast<const char**>(palloc(sizeof(char*) * (r.target_count + 1)));
    int count = 0;
    for (int i = 0; i < n; ++i) {
        if (listed[i] == nullptr) continue;
        for (uint32 j = 0; j < JsonContainerSize(listed[i]); ++j) {
            JsonbValue* id = getIthJsonbValueFromContainer(listed[i], j);
            if (id == nullptr || id->type != jbvString) continue;
            r.target_rules[count] = i + 1;
            r.target_ids[count++] = pnstrdup(id->val.string.val, id->val.string.len);
        }
    }
    r.target_count = count;
    MemoryContextSwitchTo(spi);
    return r;
}

void append_matching_rules(StringInfo out, const RuleArgs& args, const std::vector<size_t>& rules) {
    appendStringInfoChar(out, '[');
    for (size_t m = 0; m < rules.size(); ++m) {
        size_t r = rules[m];
        if (m > 0) appendStringInfoString(out, ", ");
        appendStringInfoString(out, "{\"rule_id\": ");
        escape_json(out, args.ids[r]);
        appendStringInfoString(out, ", \"action\": ");
        escape_json(out, args.actions[r]);
        appendStringInfo(out, ", \"priority\": %d}", args.priorities[r]);
    }
    appendStringInfoChar(out, ']');
}

}  // namespace recsys_pg

namespace {

// Effects of the last _apply_rules call, on the heap behind a static pointer (reading them into
// datums can raise).
std::vector<recsys::RuleEffect>* applied = nullptr;
// Pins of the last _pin_rule_items call (same reason).
std::vector<std::string>* pinned = nullptr;

}  // namespace

extern "C" {

PG_FUNCTION_INFO_V1(recsys_apply_rules);
PG_FUNCTION_INFO_V1(recsys_pin_rule_items);
PG_FUNCTION_INFO_V1(recsys_active_rule_arrays);

// _pin_rule_items(org, ns, slots, rule arrays...) -> (item_id, pin): the items the pin rules pin,
// in pin order (see recsys::pinned_items), pin counting from 0.
Datum recsys_pin_rule_items(PG_FUNCTION_ARGS) {
    recsys_pg::check_arguments(fcinfo, 13);
    int slots = PG_ARGISNULL(2) ? 0 : PG_GETARG_INT32(2);
    recsys_pg::RuleArgs args = recsys_pg::rule_args(fcinfo, 3);
    SPI_connect();
    const recsys::Catalog& catalog = recsys_pg::current_catalog(PG_GETARG_DATUM(0), text_to_cstring(PG_GETARG_TEXT_PP(1)));
    recsys_pg::core_call([&] {
        if (pinned == nullptr) pinned = new std::vector<std::string>();
        *pinned = recsys::pinned_items(catalog, recsys_pg::to_rules(args), slots < 0 ? 0 : static_cast<size_t>(slots));
    });
    SPI_finish();
    ReturnSetInfo* rsinfo = recsys_pg::init_result_rows(fcinfo, 2);
    for (size_t p = 0; p < pinned->size(); ++p) {
        Datum values[2] = {CStringGetTextDatum((*pinned)[p].c_str()), Int32GetDatum(static_cast<int32>(p))};
        bool nulls[2] = {false, false};
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    return static_cast<Datum>(0);
}

// _apply_rules(org, ns, item_ids text[], rule arrays...) -> (item_id, blocked, factor, rules):
// the items (each once, in their first order) that some rule names, with the effect.
Datum recsys_apply_rules(PG_FUNCTION_ARGS) {
    recsys_pg::check_arguments(fcinfo, 13);
    int count;
    const char** ids = recsys_pg::text_elements(fcinfo, 2, &count);
    recsys_pg::RuleArgs args = recsys_pg::rule_args(fcinfo, 3);
    bool* first = static_cast<bool*>(palloc(sizeof(bool) * (count + 1)));
    SPI_connect();
    const recsys::Catalog& catalog = recsys_pg::current_catalog(PG_GETARG_DATUM(0), text_to_cstring(PG_GETARG_TEXT_PP(1)));
    recsys_pg::core_call([&] {
        std::vector<std::string> items(ids, ids + count);
        std::unordered_set<std::string> seen;
        for (int i = 0; i < count; ++i) first[i] = seen.insert(items[static_cast<size_t>(i)]).second;
        if (applied == nullptr) applied = new std::vector<recsys::RuleEffect>();
        *applied = recsys::rule_effects(catalog, items, recsys_pg::to_rules(args));
    });
    SPI_finish();
    ReturnSetInfo* rsinfo = recsys_pg::init_result_rows(fcinfo, 4);
    for (int i = 0; i < count; ++i) {
        const recsys::RuleEffect& e = (*applied)[static_cast<size_t>(i)];
        if (!first[i] || e.rules.empty()) continue;
        StringInfoData rules;
        initStringInfo(&rules);
        recsys_pg::append_matching_rules(&rules, args, e.rules);
        Datum values[4] = {CStringGetTextDatum(ids[i]), BoolGetDatum(e.blocked), Float8GetDatum(e.factor),
                           DirectFunctionCall1(jsonb_in, CStringGetDatum(rules.data))};
        bool nulls[4] = {false, false, false, false};
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    return static_cast<Datum>(0);
}

// _active_rule_arrays(org, ns, surface, segment, at) -> the active rules (see
// recsys_pg::active_rules) as the arrays of pg/rules.hpp, for the rule primitives.
Datum recsys_active_rule_arrays(PG_FUNCTION_ARGS) {
    recsys_pg::check_arguments(fcinfo, 5);
    TupleDesc result_desc = recsys_pg::result_row_type(fcinfo, 10);
    MemoryContext caller = CurrentMemoryContext;
    SPI_connect();
    recsys_pg::RuleArgs rules = recsys_pg::active_rules(fcinfo, caller);
    SPI_finish();
    int n = rules.count;
    auto texts = [&](const char** strings, int count, bool empty_is_null) {
        Datum* elements = static_cast<Datum*>(palloc(sizeof(Datum) * (count + 1)));
        bool* element_nulls = static_cast<bool*>(palloc(sizeof(bool) * (count + 1)));
        for (int i = 0; i < count; ++i) {
            element_nulls[i] = empty_is_null && strings[i][0] == '\0';
            elements[i] = element_nulls[i] ? static_cast<Datum>(0) : CStringGetTextDatum(strings[i]);
        }
        int dims[1] = {count}, lbs[1] = {1};
        return PointerGetDatum(construct_md_array(elements, element_nulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
    };
    auto ints = [](const int* numbers, int count) {
        Datum* elements = static_cast<Datum*>(palloc(sizeof(Datum) * (count + 1)));
        for (int i = 0; i < count; ++i) elements[i] = Int32GetDatum(numbers[i]);
        return PointerGetDatum(construct_array(elements, count, INT4OID, 4, true, TYPALIGN_INT));
    };
    Datum* boosts = static_cast<Datum*>(palloc(sizeof(Datum) * (n + 1)));
    for (int i = 0; i < n; ++i) boosts[i] = Float8GetDatum(rules.boosts[i]);
    Datum values[10] = {
        texts(rules.ids, n, false),
        texts(rules.actions, n, false),
        PointerGetDatum(construct_array(boosts, n, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE)),
        ints(rules.priorities, n),
        ints(rules.max_pins, n),
        texts(rules.tags, n, true),
        texts(rules.brands, n, true),
        texts(rules.categories, n, true),
        ints(rules.target_rules, rules.target_count),
        texts(rules.target_ids, rules.target_count, false),
    };
    bool result_nulls[10] = {false};
    PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(result_desc, values, result_nulls)));
}

}  // extern "C"

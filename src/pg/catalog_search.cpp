// SQL entry points over the cached catalogue (catalog_cache.cpp) for rule targets and a user's
// tag profile (the candidate sources are in candidates.cpp). Each brings the catalogue up to date first, so an
// item changed by a committed transaction is never served in its old state.
#include <string>
#include <unordered_set>
#include <vector>

#include "pg/arrays.hpp"
#include "pg/boundary.hpp"
#include "pg/catalog_cache.hpp"

extern "C" {
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
}

namespace {

// Text argument `arg` as a C string, NULL for SQL NULL.
const char* text_or_null(FunctionCallInfo fcinfo, int arg) {
    return PG_ARGISNULL(arg) ? nullptr : text_to_cstring(PG_GETARG_TEXT_PP(arg));
}

// The rule target of arguments first..first+3: item_ids text[], tag, brand, category.
struct TargetArgs {
    const char** item_ids;
    int item_count;
    const char* tag;
    const char* brand;
    const char* category;
};

TargetArgs target_args(FunctionCallInfo fcinfo, int first) {
    TargetArgs t;
    t.item_ids = recsys_pg::text_elements(fcinfo, first, &t.item_count);
    t.tag = text_or_null(fcinfo, first + 1);
    t.brand = text_or_null(fcinfo, first + 2);
    t.category = text_or_null(fcinfo, first + 3);
    return t;
}

// The core's target of plain target arguments; call inside core_call.
recsys::ItemTarget to_target(const TargetArgs& t) {
    recsys::ItemTarget target;
    for (int i = 0; i < t.item_count; ++i) target.item_ids.emplace_back(t.item_ids[i]);
    if (t.tag != nullptr) target.tags.emplace_back(t.tag);
    if (t.brand != nullptr) target.brands.emplace_back(t.brand);
    if (t.category != nullptr) target.categories.emplace_back(t.category);
    return target;
}

// Tags and weights of the last _catalog_tag_weights call, on the heap behind a static pointer
// (copying them into datums can raise).
std::vector<std::pair<std::string, double>>* tag_sums = nullptr;

// Returns rows (item id, score or NULL) of the palloc'd results as the function's result set.
void return_items(FunctionCallInfo fcinfo, const char** ids, const double* scores, int count) {
    ReturnSetInfo* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
    InitMaterializedSRF(fcinfo, 0);
    for (int i = 0; i < count; ++i) {
        Datum values[2] = {CStringGetTextDatum(ids[i]), scores != nullptr ? Float8GetDatum(scores[i]) : 0};
        bool nulls[2] = {false, scores == nullptr};
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
}

}  // namespace

extern "C" {

PG_FUNCTION_INFO_V1(recsys_catalog_matching);
PG_FUNCTION_INFO_V1(recsys_catalog_matches);
PG_FUNCTION_INFO_V1(recsys_catalog_tag_weights);

// _catalog_matching(org, ns, item_ids text[], tag, brand, category, available_only) -> item_id:
// every item the target names, by item_id.
Datum recsys_catalog_matching(PG_FUNCTION_ARGS) {
    TargetArgs args = target_args(fcinfo, 2);
    bool available_only = PG_GETARG_BOOL(6);
    SPI_connect();
    const recsys::Catalog& catalog = recsys_pg::current_catalog(PG_GETARG_DATUM(0), text_to_cstring(PG_GETARG_TEXT_PP(1)));
    const char** ids = static_cast<const char**>(SPI_palloc(sizeof(char*) * (catalog.size() + 1)));
    int count = 0;
    recsys_pg::core_call([&] {
        for (int slot : catalog.matching(to_target(args), available_only)) ids[count++] = catalog.item_id(slot).c_str();
    });
    SPI_finish();
    return_items(fcinfo, ids, nullptr, count);
    return static_cast<Datum>(0);
}

// _catalog_matches(org, ns, item_ids text[], tag, brand, category, candidates text[]) -> item_id:
// the candidates the target names, in their order.
Datum recsys_catalog_matches(PG_FUNCTION_ARGS) {
    TargetArgs args = target_args(fcinfo, 2);
    int candidate_count;
    const char** candidates = recsys_pg::text_elements(fcinfo, 6, &candidate_count);
    bool* hit = static_cast<bool*>(palloc0(sizeof(bool) * (candidate_count + 1)));
    SPI_connect();
    const recsys::Catalog& catalog = recsys_pg::current_catalog(PG_GETARG_DATUM(0), text_to_cstring(PG_GETARG_TEXT_PP(1)));
    recsys_pg::core_call([&] {
        recsys::ItemTarget target = to_target(args);
        recsys::CompiledTarget compiled = catalog.compile(target);
        for (int c = 0; c < candidate_count; ++c) hit[c] = catalog.matches(compiled, candidates[c], catalog.find(candidates[c]));
    });
    SPI_finish();
    const char** ids = static_cast<const char**>(palloc(sizeof(char*) * (candidate_count + 1)));
    int count = 0;
    for (int c = 0; c < candidate_count; ++c)
        if (hit[c]) ids[count++] = candidates[c];
    return_items(fcinfo, ids, nullptr, count);
    return static_cast<Datum>(0);
}

// _catalog_tag_weights(org, ns, item_ids text[], weights float8[]) -> (tag, weight): each tag of
// the given items with the sum of their positive weights (see Catalog::tag_weights).
Datum recsys_catalog_tag_weights(PG_FUNCTION_ARGS) {
    int count;
    const char** ids = recsys_pg::text_elements(fcinfo, 2, &count);
    recsys_pg::ArrayArg weights = recsys_pg::array_arg(fcinfo, 3, FLOAT8OID);
    if (weights.count != count)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("item_ids and weights differ in length")));
    double* weight = static_cast<double*>(palloc(sizeof(double) * (count + 1)));
    for (int i = 0; i < count; ++i) weight[i] = recsys_pg::float8_at(weights, i);
    SPI_connect();
    const recsys::Catalog& catalog = recsys_pg::current_catalog(PG_GETARG_DATUM(0), text_to_cstring(PG_GETARG_TEXT_PP(1)));
    recsys_pg::core_call([&] {
        if (tag_sums == nullptr) tag_sums = new std::vector<std::pair<std::string, double>>();
        *tag_sums = catalog.tag_weights(std::vector<std::string>(ids, ids + count), std::vector<double>(weight, weight + count));
    });
    SPI_finish();
    int tag_count = static_cast<int>(tag_sums->size());
    const char** tags = static_cast<const char**>(palloc(sizeof(char*) * (tag_count + 1)));
    double* sums = static_cast<double*>(palloc(sizeof(double) * (tag_count + 1)));
    for (int t = 0; t < tag_count; ++t) {
        tags[t] = pstrdup((*tag_sums)[static_cast<size_t>(t)].first.c_str());
        sums[t] = (*tag_sums)[static_cast<size_t>(t)].second;
    }
    return_items(fcinfo, tags, sums, tag_count);
    return static_cast<Datum>(0);
}

}  // extern "C"

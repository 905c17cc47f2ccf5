// SQL entry points over the cached catalogue (catalog_cache.cpp): candidate sources of
// recsys_rank and recsys_similar_items, and rule targets. Each brings the catalogue up to date
// first, so an item changed by a committed transaction is never served in its old state.
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

// Copies the text elements of array argument `arg` (palloc'd C strings) and their count.
const char** text_elements(FunctionCallInfo fcinfo, int arg, int* count) {
    recsys_pg::ArrayArg a = recsys_pg::array_arg(fcinfo, arg, TEXTOID);
    const char** out = static_cast<const char**>(palloc(sizeof(char*) * (a.count + 1)));
    for (int i = 0; i < a.count; ++i) out[i] = recsys_pg::text_at(a, i);
    *count = a.count;
    return out;
}

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
    t.item_ids = text_elements(fcinfo, first, &t.item_count);
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

// A catalogue search in progress: the current catalogue (SPI connected) and room for up to n
// results outside SPI memory.
struct Search {
    int n;
    const recsys::Catalog* catalog;
    const char** ids;
    double* scores;
    int count;
};

// Connects SPI and brings org's namespace (arguments 0 and 1) up to date; n comes from argument
// n_arg (NULL or negative: 0). Argument arrays must be read before, outside SPI memory.
Search begin_search(FunctionCallInfo fcinfo, int n_arg) {
    Search s;
    s.n = PG_ARGISNULL(n_arg) ? 0 : PG_GETARG_INT32(n_arg);
    s.n = s.n < 0 ? 0 : s.n;
    s.ids = static_cast<const char**>(palloc(sizeof(char*) * (s.n + 1)));
    s.scores = static_cast<double*>(palloc(sizeof(double) * (s.n + 1)));
    s.count = 0;
    SPI_connect();
    s.catalog = &recsys_pg::current_catalog(PG_GETARG_DATUM(0), text_to_cstring(PG_GETARG_TEXT_PP(1)));
    return s;
}

// Keeps scored slots as the search's results; call inside core_call.
void keep_scored(Search& s, const std::vector<recsys::ScoredSlot>& found) {
    for (const recsys::ScoredSlot& f : found) {
        s.ids[s.count] = s.catalog->item_id(f.slot).c_str();  // valid until the next catalogue refresh
        s.scores[s.count++] = f.score;
    }
}

// Ends SPI and returns the results (item_id, score or NULL).
Datum finish_search(FunctionCallInfo fcinfo, const Search& s, bool with_scores) {
    SPI_finish();
    return_items(fcinfo, s.ids, with_scores ? s.scores : nullptr, s.count);
    return static_cast<Datum>(0);
}

}  // namespace

extern "C" {

PG_FUNCTION_INFO_V1(recsys_catalog_nearest);
PG_FUNCTION_INFO_V1(recsys_catalog_tagged);
PG_FUNCTION_INFO_V1(recsys_catalog_factor_top);
PG_FUNCTION_INFO_V1(recsys_catalog_matching);
PG_FUNCTION_INFO_V1(recsys_catalog_matches);
PG_FUNCTION_INFO_V1(recsys_catalog_popular);
PG_FUNCTION_INFO_V1(recsys_catalog_covisited);

// _catalog_popular(org, ns, n, at) -> (item_id, score): the n most popular available items at
// `at` (decayed popularity, as recsys._popularity_of).
Datum recsys_catalog_popular(PG_FUNCTION_ARGS) {
    double days = recsys_pg::decay_days(PG_GETARG_TIMESTAMPTZ(3));
    Search s = begin_search(fcinfo, 2);
    recsys_pg::core_call([&] { keep_scored(s, s.catalog->top_popular(static_cast<size_t>(s.n), days)); });
    return finish_search(fcinfo, s, true);
}

// _catalog_nearest(org, ns, anchor_ids text[], n) -> (item_id, similarity): the n available
// items whose embeddings are nearest by cosine to the anchors' mean embedding, anchors left out.
Datum recsys_catalog_nearest(PG_FUNCTION_ARGS) {
    int anchor_count;
    const char** anchors = text_elements(fcinfo, 2, &anchor_count);
    Search s = begin_search(fcinfo, 3);
    recsys_pg::core_call([&] {
        std::vector<int> skip;
        for (int a = 0; a < anchor_count; ++a) {
            int slot = s.catalog->find(anchors[a]);
            if (slot >= 0) skip.push_back(slot);
        }
        keep_scored(s, s.catalog->nearest(s.catalog->centroid(skip), static_cast<size_t>(s.n), skip));
    });
    return finish_search(fcinfo, s, true);
}

// _catalog_tagged(org, ns, tags text[], n) -> item_id: the first n available items by item_id
// that carry any of the tags.
Datum recsys_catalog_tagged(PG_FUNCTION_ARGS) {
    int tag_count;
    const char** tags = text_elements(fcinfo, 2, &tag_count);
    Search s = begin_search(fcinfo, 3);
    recsys_pg::core_call([&] {
        std::vector<std::string> wanted(tags, tags + tag_count);
        for (int slot : s.catalog->with_any_tag(wanted, static_cast<size_t>(s.n))) s.ids[s.count++] = s.catalog->item_id(slot).c_str();
    });
    return finish_search(fcinfo, s, false);
}

// _catalog_factor_top(org, ns, user_factors real[], n) -> (item_id, score): the n available
// items with the highest ALS score for the user.
Datum recsys_catalog_factor_top(PG_FUNCTION_ARGS) {
    recsys_pg::ArrayArg user = recsys_pg::array_arg(fcinfo, 2, FLOAT4OID);
    float* factors = static_cast<float*>(palloc(sizeof(float) * (user.count + 1)));
    for (int d = 0; d < user.count; ++d) factors[d] = user.nulls[d] ? 0.0f : DatumGetFloat4(user.values[d]);
    Search s = begin_search(fcinfo, 3);
    recsys_pg::core_call([&] {
        std::vector<float> query(factors, factors + user.count);
        keep_scored(s, s.catalog->top_by_factors(query, static_cast<size_t>(s.n)));
    });
    return finish_search(fcinfo, s, true);
}

// _catalog_covisited(org, ns, items text[], n, within text[]) -> (item_id, pairs): the n
// available items most co-visited with `items`, only those of `within` unless it is NULL.
Datum recsys_catalog_covisited(PG_FUNCTION_ARGS) {
    if (PG_ARGISNULL(0) || PG_ARGISNULL(1)) PG_RETURN_NULL();
    int item_count = 0, within_count = 0;
    const char** items = PG_ARGISNULL(2) ? nullptr : text_elements(fcinfo, 2, &item_count);
    bool restricted = !PG_ARGISNULL(4);
    const char** within = restricted ? text_elements(fcinfo, 4, &within_count) : nullptr;
    Search s = begin_search(fcinfo, 3);
    recsys_pg::core_call([&] {
        std::vector<std::string> wanted(items, items + item_count);
        std::unordered_set<std::string> allowed(within, within + within_count);
        keep_scored(s, s.catalog->top_covisited(wanted, static_cast<size_t>(s.n), restricted ? &allowed : nullptr));
    });
    return finish_search(fcinfo, s, true);
}

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
    const char** candidates = text_elements(fcinfo, 6, &candidate_count);
    bool* hit = static_cast<bool*>(palloc0(sizeof(bool) * (candidate_count + 1)));
    SPI_connect();
    const recsys::Catalog& catalog = recsys_pg::current_catalog(PG_GETARG_DATUM(0), text_to_cstring(PG_GETARG_TEXT_PP(1)));
    recsys_pg::core_call([&] {
        recsys::ItemTarget target = to_target(args);
        for (int c = 0; c < candidate_count; ++c) hit[c] = catalog.matches(target, candidates[c]);
    });
    SPI_finish();
    const char** ids = static_cast<const char**>(palloc(sizeof(char*) * (candidate_count + 1)));
    int count = 0;
    for (int c = 0; c < candidate_count; ++c)
        if (hit[c]) ids[count++] = candidates[c];
    return_items(fcinfo, ids, nullptr, count);
    return static_cast<Datum>(0);
}

}  // extern "C"

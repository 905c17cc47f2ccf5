// recsys._rank_candidates: the candidate pool of a ranking request gathered in one call from the
// cached catalogue (popularity, co-visitation of the recent items, the tag profile, embedding
// neighbours, ALS factors) plus the request's own lists (a rerank pool, pins, boosted items),
// with the seen / purchased / excluded flags; src/sql/serving.sql adds the rules.
#include <cmath>
#include <string>
#include <unordered_set>
#include <vector>

#include "core/candidates.hpp"
#include "pg/arrays.hpp"
#include "pg/boundary.hpp"
#include "pg/catalog_cache.hpp"

extern "C" {
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
}

namespace {

// Source bits (as PipelineItem::sources and the SQL trace).
constexpr uint32_t from_popularity = 1, from_covisitation = 2, from_embedding = 4, from_content = 8, pinned = 16,
                   boosted = 32, from_factors = 64;
// Flag bits (as _rank_pipeline's flags).
constexpr uint32_t flag_seen = 1, flag_purchased = 2, flag_excluded = 4;

// A text[] argument as palloc'd C strings; `present` is false for SQL NULL.
struct TextList {
    const char** items;
    int count;
    bool present;
};

TextList text_list(FunctionCallInfo fcinfo, int arg) {
    TextList list;
    list.items = recsys_pg::text_elements(fcinfo, arg, &list.count);
    list.present = !PG_ARGISNULL(arg);
    return list;
}

std::vector<std::string> strings(const TextList& list) { return std::vector<std::string>(list.items, list.items + list.count); }

// The pool of the current call, on the heap behind a static pointer: copying it into datums
// can raise (longjmp), which must not skip a destructor.
std::vector<recsys::PooledItem>* pooled = nullptr;

}  // namespace

extern "C" {

PG_FUNCTION_INFO_V1(recsys_rank_candidates);

// _rank_candidates(org, ns, fanout, recent, anchors, profile_tags, user_factors, at, pool_ids,
//   pin_ids, boost_ids, seen_ids, purchased, excluded, given_popular, given_covis_ids, given_covis,
//   covis_penalty)
//   -> (ids text[], sources int[], covis float8[], flags int[]), ordered by item id.
// With pool_ids (a rerank), the pool is those ids plus the pins, and co-visitation is counted
// among them only. given_popular / given_covis_* replace the catalogue's popularity and
// co-visitation (the as_of path computes them from the events).
Datum recsys_rank_candidates(PG_FUNCTION_ARGS) {
    if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(7))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("org, namespace, fanout and at must not be null")));
    int fanout = PG_GETARG_INT32(2);
    size_t n = fanout < 0 ? 0 : static_cast<size_t>(fanout);
    TextList recent = text_list(fcinfo, 3), anchors = text_list(fcinfo, 4), profile_tags = text_list(fcinfo, 5);
    bool has_factors = !PG_ARGISNULL(6);
    recsys_pg::ArrayArg factor_arg = recsys_pg::array_arg(fcinfo, 6, FLOAT4OID);
    float* factors = static_cast<float*>(palloc(sizeof(float) * (factor_arg.count + 1)));
    for (int d = 0; d < factor_arg.count; ++d) factors[d] = factor_arg.nulls[d] ? 0.0f : DatumGetFloat4(factor_arg.values[d]);
    double days = recsys_pg::decay_days(PG_GETARG_TIMESTAMPTZ(7));
    TextList pool_ids = text_list(fcinfo, 8), pin_ids = text_list(fcinfo, 9), boost_ids = text_list(fcinfo, 10);
    TextList seen = text_list(fcinfo, 11), purchased = text_list(fcinfo, 12), excluded = text_list(fcinfo, 13);
    TextList given_popular = text_list(fcinfo, 14), given_covis_ids = text_list(fcinfo, 15);
    recsys_pg::ArrayArg given_covis = recsys_pg::array_arg(fcinfo, 16, FLOAT8OID);
    double covis_penalty = PG_ARGISNULL(17) ? 0.0 : PG_GETARG_FLOAT8(17);
    if (given_covis_ids.count != given_covis.count)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("co-visitation arrays differ in length")));
    bool generate = !pool_ids.present;

    SPI_connect();
    const recsys::Catalog& catalog = recsys_pg::current_catalog(PG_GETARG_DATUM(0), text_to_cstring(PG_GETARG_TEXT_PP(1)));
    recsys_pg::core_call([&] {
        recsys::CandidatePool pool;
        auto add_slots = [&](const std::vector<recsys::ScoredSlot>& found, uint32_t source, bool with_score) {
            for (const recsys::ScoredSlot& f : found) pool.add(catalog.item_id(f.slot), source, with_score ? f.score : NAN);
        };
        auto add_ids = [&](const TextList& list, uint32_t source) {
            for (int i = 0; i < list.count; ++i) pool.add(list.items[i], source);
        };
        if (generate) {
            if (given_popular.present)
                add_ids(given_popular, from_popularity);
            else
                add_slots(catalog.top_popular(n, days), from_popularity, false);
        }
        if (given_covis_ids.present) {
            for (int i = 0; i < given_covis_ids.count; ++i)
                pool.add(given_covis_ids.items[i], from_covisitation, recsys_pg::float8_at(given_covis, i));
        } else {
            std::vector<std::string> allowed = strings(pool_ids);
            std::unordered_set<std::string> within(allowed.begin(), allowed.end());
            add_slots(catalog.top_covisited(strings(recent), n, generate ? nullptr : &within, covis_penalty),
                      from_covisitation, true);
        }
        if (generate) {
            for (int slot : catalog.with_any_tag(strings(profile_tags), n)) pool.add(catalog.item_id(slot), from_content);
            if (anchors.count > 0) {
                std::vector<int> skip;
                for (int a = 0; a < anchors.count; ++a) {
                    int slot = catalog.find(anchors.items[a]);
                    if (slot >= 0) skip.push_back(slot);
                }
                add_slots(catalog.nearest(catalog.centroid(skip), n, skip), from_embedding, false);
            }
            if (has_factors)
                add_slots(catalog.top_by_factors(std::vector<float>(factors, factors + factor_arg.count), n), from_factors,
                          false);
            add_ids(boost_ids, boosted);
        } else {
            add_ids(pool_ids, 0);
        }
        add_ids(pin_ids, pinned);
        pool.flag(strings(seen), flag_seen);
        pool.flag(strings(purchased), flag_purchased);
        pool.flag(strings(excluded), flag_excluded);
        if (pooled == nullptr) pooled = new std::vector<recsys::PooledItem>();
        *pooled = pool.sorted();
    });
    SPI_finish();

    int count = static_cast<int>(pooled->size());
    Datum* id_datums = static_cast<Datum*>(palloc(sizeof(Datum) * (count + 1)));
    Datum* source_datums = static_cast<Datum*>(palloc(sizeof(Datum) * (count + 1)));
    Datum* flag_datums = static_cast<Datum*>(palloc(sizeof(Datum) * (count + 1)));
    Datum* covis_datums = static_cast<Datum*>(palloc(sizeof(Datum) * (count + 1)));
    bool* covis_nulls = static_cast<bool*>(palloc(sizeof(bool) * (count + 1)));
    for (int i = 0; i < count; ++i) {
        const recsys::PooledItem& item = (*pooled)[static_cast<size_t>(i)];
        id_datums[i] = CStringGetTextDatum(item.item_id.c_str());
        source_datums[i] = Int32GetDatum(static_cast<int32>(item.sources));
        flag_datums[i] = Int32GetDatum(static_cast<int32>(item.flags));
        covis_nulls[i] = std::isnan(item.covisitation);
        covis_datums[i] = Float8GetDatum(covis_nulls[i] ? 0.0 : item.covisitation);
    }
    int dims[1] = {count};
    int lbs[1] = {1};
    TupleDesc desc;
    if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE) elog(ERROR, "return type must be a row type");
    desc = BlessTupleDesc(desc);
    Datum values[4] = {
        PointerGetDatum(construct_array(id_datums, count, TEXTOID, -1, false, TYPALIGN_INT)),
        PointerGetDatum(construct_array(source_datums, count, INT4OID, 4, true, TYPALIGN_INT)),
        PointerGetDatum(construct_md_array(covis_datums, covis_nulls, 1, dims, lbs, FLOAT8OID, 8, FLOAT8PASSBYVAL,
                                           TYPALIGN_DOUBLE)),
        PointerGetDatum(construct_array(flag_datums, count, INT4OID, 4, true, TYPALIGN_INT))};
    bool nulls[4] = {false, false, false, false};
    PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

}  // extern "C"

// recsys._rank_candidates: the candidate pool of a ranking request gathered in one call from the
// cached catalogue (popularity, co-visitation of the recent items, the tag profile, embedding
// neighbours, ALS factors) plus a rerank's own list, the pinned items and the items positive
// boosts name, with the seen / purchased / excluded flags and the effect of the active
// rules on every candidate (block, boost factor) with how many candidates each rule names.
#include <algorithm>
#include <cmath>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/candidates.hpp"
#include "pg/arrays.hpp"
#include "pg/boundary.hpp"
#include "pg/catalog_cache.hpp"
#include "pg/rules.hpp"

extern "C" {
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/json.h"
#include "utils/timestamp.h"
}

namespace {

// Source bits (as PipelineItem::sources and the SQL trace).
constexpr uint32_t from_popularity = 1, from_covisitation = 2, from_embedding = 4, from_content = 8, pinned = 16,
                   boosted = 32, from_factors = 64;
// Flag bits (as _rank_pipeline's flags).
constexpr uint32_t flag_seen = 1, flag_purchased = 2, flag_excluded = 4, flag_blocked = 8;

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

// The pool of the current call with its rule effects and popularity, on the heap behind a static
// pointer: copying it into datums can raise (longjmp), which must not skip a destructor.
struct Gathered {
    std::vector<recsys::PooledItem> items;
    std::vector<recsys::RuleEffect> effects;
    std::vector<double> popularity;  // empty unless given
    std::vector<int> pins;
    std::vector<size_t> rule_order;  // rule indexes by priority, then rule_id
    std::vector<int> named;          // how many candidates each rule names
    std::vector<int> slots;          // catalogue slot of each item, -1 when it has none
    uint64_t serial = 0;             // the catalogue's serial
    std::vector<std::pair<std::string, double>> profile;  // the user's tag profile
};

// The user's tag profile keeps this many of the heaviest tags (the pipeline's personalisation);
// the heaviest few of them choose the content source's items.
constexpr size_t profile_tags_kept = 50, content_profile_tags = 3;
Gathered* gathered = nullptr;

}  // namespace

extern "C" {

PG_FUNCTION_INFO_V1(recsys_rank_candidates);

// _rank_candidates(org, ns, fanout, popular_fanout, recent, anchors, content_tags, user_factors, at, pool_ids,
//   pin_slots, seen_ids, purchased, excluded, given_popularity_ids, given_popularity,
//   given_covis_ids, given_covis, covis_penalty, <rule arrays, see pg/rules.hpp>, seen_weights)
//   -> (ids text[], popularity float8[], covis float8[], sources int[], flags int[],
//       factors float8[], pins int[], rules jsonb, slots int[], catalog_serial bigint,
//       profile_tags text[], profile_weights float8[]), ordered by item id; slots (catalogue
//       slots, -1 for ids it lacks) hold where catalog_serial matches (see _rank_pipeline).
// The user's tag profile (Catalog::tag_profile of seen_ids with seen_weights, the 50 heaviest
// tags) comes back for the pipeline; the content source takes the items carrying any of
// content_tags or, when that is NULL, of the profile's 3 heaviest tags.
// Each source proposes `fanout` items, popularity `popular_fanout`. With pool_ids (a rerank), the
// pool is those ids plus the pins, and co-visitation is counted among them only. given_popularity_* (every item's popularity at `at`) and given_covis_*
// replace the catalogue's popularity and co-visitation (the as_of path computes them from the
// events); popularity is returned only then. The pin rules' items (recsys::pinned_items, at most
// pin_slots) join the pool; pins: their pin position, -1 for the others.
// rules: {rule_id: {action, priority, candidates: n}} of the rules that name some of the n candidates.
Datum recsys_rank_candidates(PG_FUNCTION_ARGS) {
    if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3) || PG_ARGISNULL(8))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                        errmsg("org, namespace, fanout, popular_fanout and at must not be null")));
    int fanout = PG_GETARG_INT32(2), popular_fanout = PG_GETARG_INT32(3);
    size_t n = fanout < 0 ? 0 : static_cast<size_t>(fanout);
    size_t n_popular = popular_fanout < 0 ? 0 : static_cast<size_t>(popular_fanout);
    TextList recent = text_list(fcinfo, 4), anchors = text_list(fcinfo, 5), content_tags = text_list(fcinfo, 6);
    bool has_factors = !PG_ARGISNULL(7);
    recsys_pg::ArrayArg factor_arg = recsys_pg::array_arg(fcinfo, 7, FLOAT4OID);
    float* factors = static_cast<float*>(palloc(sizeof(float) * (factor_arg.count + 1)));
    for (int d = 0; d < factor_arg.count; ++d) factors[d] = factor_arg.nulls[d] ? 0.0f : DatumGetFloat4(factor_arg.values[d]);
    double days = recsys_pg::decay_days(PG_GETARG_TIMESTAMPTZ(8));
    TextList pool_ids = text_list(fcinfo, 9);
    int pin_slots = PG_ARGISNULL(10) ? 0 : PG_GETARG_INT32(10);
    TextList seen = text_list(fcinfo, 11), purchased = text_list(fcinfo, 12), excluded = text_list(fcinfo, 13);
    TextList given_popularity_ids = text_list(fcinfo, 14);
    recsys_pg::ArrayArg given_popularity = recsys_pg::array_arg(fcinfo, 15, FLOAT8OID);
    TextList given_covis_ids = text_list(fcinfo, 16);
    recsys_pg::ArrayArg given_covis = recsys_pg::array_arg(fcinfo, 17, FLOAT8OID);
    double covis_penalty = PG_ARGISNULL(18) ? 0.0 : PG_GETARG_FLOAT8(18);
    recsys_pg::RuleArgs rule_args = recsys_pg::rule_args(fcinfo, 19);
    recsys_pg::ArrayArg seen_weight_arg = recsys_pg::array_arg(fcinfo, 29, FLOAT8OID);
    if (given_covis_ids.count != given_covis.count || given_popularity_ids.count != given_popularity.count)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("given signal arrays differ in length")));
    if (!PG_ARGISNULL(29) && seen_weight_arg.count != seen.count)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("seen_ids and seen_weights differ in length")));
    // Plain C data until the core call (a C++ object must not outlive a longjmp).
    double* seen_weights = static_cast<double*>(palloc(sizeof(double) * (seen_weight_arg.count + 1)));
    for (int i = 0; i < seen_weight_arg.count; ++i) seen_weights[i] = recsys_pg::float8_at(seen_weight_arg, i);
    bool generate = !pool_ids.present;

    SPI_connect();
    const recsys::Catalog& catalog = recsys_pg::current_catalog(PG_GETARG_DATUM(0), text_to_cstring(PG_GETARG_TEXT_PP(1)));
    recsys_pg::core_call([&] {
        if (gathered == nullptr) gathered = new Gathered();
        Gathered& g = *gathered;
        g.profile.clear();
        if (seen_weight_arg.count > 0)
            g.profile = catalog.tag_profile(strings(seen), std::vector<double>(seen_weights, seen_weights + seen_weight_arg.count),
                                            profile_tags_kept);
        std::vector<recsys::Rule> rules = recsys_pg::to_rules(rule_args);
        std::vector<std::string> pin_ids = recsys::pinned_items(catalog, rules, pin_slots < 0 ? 0 : static_cast<size_t>(pin_slots));
        recsys::CandidatePool pool([&catalog](const std::string& id) { return catalog.find(id); });
        auto add_slots = [&](const std::vector<recsys::ScoredSlot>& found, uint32_t source, bool with_score) {
            for (const recsys::ScoredSlot& f : found)
                pool.add(catalog.item_id(f.slot), source, with_score ? f.score : NAN, f.slot);
        };
        auto add_ids = [&](const TextList& list, uint32_t source) {
            for (int i = 0; i < list.count; ++i) pool.add(list.items[i], source);
        };
        // Popularity given for the as_of path: every item's score at `at`.
        std::unordered_map<std::string, double> popularity_of;
        for (int i = 0; i < given_popularity_ids.count; ++i)
            popularity_of[given_popularity_ids.items[i]] = recsys_pg::float8_at(given_popularity, i);
        if (generate) {
            if (given_popularity_ids.present) {
                std::vector<std::pair<double, std::string>> best;
                for (const auto& p : popularity_of) best.emplace_back(p.second, p.first);
                size_t top = std::min(n_popular, best.size());
                std::partial_sort(best.begin(), best.begin() + static_cast<long>(top), best.end(),
                                  [](const auto& a, const auto& b) { return a.first != b.first ? a.first > b.first : a.second < b.second; });
                for (size_t i = 0; i < top; ++i) pool.add(best[i].second, from_popularity);
            } else {
                add_slots(catalog.top_popular(n_popular, days), from_popularity, false);
            }
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
            std::vector<std::string> tags = strings(content_tags);
            if (!content_tags.present)
                for (size_t t = 0; t < g.profile.size() && t < content_profile_tags; ++t) tags.push_back(g.profile[t].first);
            for (int slot : catalog.with_any_tag(tags, n))
                pool.add(catalog.item_id(slot), from_content, NAN, slot);
            if (anchors.count > 0) {
                std::vector<int> skip;
                for (int a = 0; a < anchors.count; ++a) {
                    int slot = catalog.find(anchors.items[a]);
                    if (slot >= 0) skip.push_back(slot);
                }
                // The set is what counts here: the pipeline scores every candidate exactly.
                add_slots(catalog.nearest(catalog.centroid(skip), n, skip, false), from_embedding, false);
            }
            if (has_factors)
                add_slots(catalog.top_by_factors(std::vector<float>(factors, factors + factor_arg.count), n, false), from_factors,
                          false);
            // Items a positive boost names join the pool, so a boost can give exposure to an
            // item no other source finds (a new item is then scored by its similarity).
            for (const recsys::Rule& r : rules)
                if (r.action == "boost" && r.boost > 0)
                    for (const std::string& id : r.target.item_ids) pool.add(id, boosted);
        } else {
            add_ids(pool_ids, 0);
        }
        for (const std::string& id : pin_ids) pool.add(id, pinned);
        pool.flag(strings(seen), flag_seen);
        pool.flag(strings(purchased), flag_purchased);
        pool.flag(strings(excluded), flag_excluded);

        g.items = pool.sorted();
        std::vector<std::string> ids;
        ids.reserve(g.items.size());
        g.slots.clear();
        g.slots.reserve(g.items.size());
        for (const recsys::PooledItem& item : g.items) {
            ids.push_back(item.item_id);
            g.slots.push_back(item.slot);
        }
        g.serial = catalog.serial();
        g.effects = recsys::rule_effects(catalog, ids, g.slots, rules, &g.named);
        g.rule_order = recsys::rules_by_priority(rules);
        g.popularity.clear();
        if (given_popularity_ids.present)
            for (const std::string& id : ids) {
                auto found = popularity_of.find(id);
                g.popularity.push_back(found == popularity_of.end() ? NAN : found->second);
            }
        std::unordered_map<std::string, int> pin_position;
        for (size_t p = 0; p < pin_ids.size(); ++p) pin_position.emplace(pin_ids[p], static_cast<int>(p));
        g.pins.clear();
        for (size_t i = 0; i < ids.size(); ++i) {
            auto found = pin_position.find(ids[i]);
            g.pins.push_back(found == pin_position.end() ? -1 : found->second);
            if (g.effects[i].blocked) g.items[i].flags |= flag_blocked;
        }
    });
    SPI_finish();

    const Gathered& g = *gathered;
    int count = static_cast<int>(g.items.size());
    bool with_popularity = !g.popularity.empty();
    Datum* id_datums = static_cast<Datum*>(palloc(sizeof(Datum) * (count + 1)));
    Datum* popularity_datums = static_cast<Datum*>(palloc(sizeof(Datum) * (count + 1)));
    bool* popularity_nulls = static_cast<bool*>(palloc(sizeof(bool) * (count + 1)));
    Datum* covis_datums = static_cast<Datum*>(palloc(sizeof(Datum) * (count + 1)));
    bool* covis_nulls = static_cast<bool*>(palloc(sizeof(bool) * (count + 1)));
    Datum* source_datums = static_cast<Datum*>(palloc(sizeof(Datum) * (count + 1)));
    Datum* flag_datums = static_cast<Datum*>(palloc(sizeof(Datum) * (count + 1)));
    Datum* factor_datums = static_cast<Datum*>(palloc(sizeof(Datum) * (count + 1)));
    Datum* pin_datums = static_cast<Datum*>(palloc(sizeof(Datum) * (count + 1)));
    Datum* slot_datums = static_cast<Datum*>(palloc(sizeof(Datum) * (count + 1)));
    for (int i = 0; i < count; ++i) {
        const recsys::PooledItem& item = g.items[static_cast<size_t>(i)];
        id_datums[i] = CStringGetTextDatum(item.item_id.c_str());
        double popularity = with_popularity ? g.popularity[static_cast<size_t>(i)] : NAN;
        popularity_nulls[i] = std::isnan(popularity);
        popularity_datums[i] = Float8GetDatum(popularity_nulls[i] ? 0.0 : popularity);
        covis_nulls[i] = std::isnan(item.covisitation);
        covis_datums[i] = Float8GetDatum(covis_nulls[i] ? 0.0 : item.covisitation);
        source_datums[i] = Int32GetDatum(static_cast<int32>(item.sources));
        flag_datums[i] = Int32GetDatum(static_cast<int32>(item.flags));
        factor_datums[i] = Float8GetDatum(g.effects[static_cast<size_t>(i)].factor);
        pin_datums[i] = Int32GetDatum(g.pins[static_cast<size_t>(i)]);
        slot_datums[i] = Int32GetDatum(g.slots[static_cast<size_t>(i)]);
    }
    // {rule_id: {action, priority, candidates: how many it names}}, rules by priority.
    StringInfoData rules;
    initStringInfo(&rules);
    appendStringInfoChar(&rules, '{');
    bool first_rule = true;
    for (size_t r : g.rule_order) {
        if (g.named[r] == 0) continue;
        if (!first_rule) appendStringInfoString(&rules, ", ");
        first_rule = false;
        escape_json(&rules, rule_args.ids[r]);
        appendStringInfoString(&rules, ": {\"action\": ");
        escape_json(&rules, rule_args.actions[r]);
        appendStringInfo(&rules, ", \"priority\": %d, \"candidates\": %d}", rule_args.priorities[r], g.named[r]);
    }
    appendStringInfoChar(&rules, '}');
    int dims[1] = {count};
    int lbs[1] = {1};
    TupleDesc desc;
    if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE) elog(ERROR, "return type must be a row type");
    desc = BlessTupleDesc(desc);
    int profile_count = static_cast<int>(g.profile.size());
    Datum* profile_tag_datums = static_cast<Datum*>(palloc(sizeof(Datum) * (profile_count + 1)));
    Datum* profile_weight_datums = static_cast<Datum*>(palloc(sizeof(Datum) * (profile_count + 1)));
    for (int t = 0; t < profile_count; ++t) {
        profile_tag_datums[t] = CStringGetTextDatum(g.profile[static_cast<size_t>(t)].first.c_str());
        profile_weight_datums[t] = Float8GetDatum(g.profile[static_cast<size_t>(t)].second);
    }
    Datum values[12] = {
        PointerGetDatum(construct_array(id_datums, count, TEXTOID, -1, false, TYPALIGN_INT)),
        PointerGetDatum(with_popularity ? construct_md_array(popularity_datums, popularity_nulls, 1, dims, lbs, FLOAT8OID, 8,
                                                             FLOAT8PASSBYVAL, TYPALIGN_DOUBLE)
                                        : construct_empty_array(FLOAT8OID)),
        PointerGetDatum(construct_md_array(covis_datums, covis_nulls, 1, dims, lbs, FLOAT8OID, 8, FLOAT8PASSBYVAL,
                                           TYPALIGN_DOUBLE)),
        PointerGetDatum(construct_array(source_datums, count, INT4OID, 4, true, TYPALIGN_INT)),
        PointerGetDatum(construct_array(flag_datums, count, INT4OID, 4, true, TYPALIGN_INT)),
        PointerGetDatum(construct_array(factor_datums, count, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE)),
        PointerGetDatum(construct_array(pin_datums, count, INT4OID, 4, true, TYPALIGN_INT)),
        DirectFunctionCall1(jsonb_in, CStringGetDatum(rules.data)),
        PointerGetDatum(construct_array(slot_datums, count, INT4OID, 4, true, TYPALIGN_INT)),
        Int64GetDatum(static_cast<int64>(g.serial)),
        PointerGetDatum(construct_array(profile_tag_datums, profile_count, TEXTOID, -1, false, TYPALIGN_INT)),
        PointerGetDatum(construct_array(profile_weight_datums, profile_count, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE))};
    bool nulls[12] = {false, false, false, false, false, false, false, false, false, false, false, false};
    PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

}  // extern "C"

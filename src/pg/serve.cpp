// recsys._rank_serve: one ranking request in one call, from the user's history to the ranked rows.
//
// Called by recsys._rank_core and recsys._similar_items (src/sql/serving.sql), which read the
// user (history, purchases, factors), the segment and the effective knobs. Here, with the cached
// catalogue:
//   1. the active rules of the surface and segment are read (one prepared query);
//   2. candidates are gathered from every source (popularity, co-visitation of the recent items,
//      content from the user's tag profile, embedding neighbours, ALS factors) plus a rerank's
//      own list, the pinned items and the items positive boosts name, flagged seen / purchased /
//      excluded, with each candidate's pin position;
//   3. the rules are matched against them (blocked, boost factor) while their attributes and
//      signals are read, and the pipeline (src/core/pipeline.cpp) filters, blends, personalises
//      and diversifies them;
//   4. each served item gets the rules that name it.
// One call instead of a candidates call and a pipeline call spares handing ~2,000 candidates
// through SQL arrays twice. With recsys.serving_threads, the embedding and ALS sources and part
// of the reading run on a second thread (core/side_task.hpp) that only reads the catalogue and
// calls no PostgreSQL function; it is always joined before this thread leaves the core call.
// Everything the core computes is kept on the heap behind a static pointer: turning it into
// datums can raise (longjmp), which must not skip a destructor.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/candidates.hpp"
#include "core/pipeline.hpp"
#include "core/side_task.hpp"
#include "pg/arrays.hpp"
#include "pg/boundary.hpp"
#include "pg/catalog_cache.hpp"
#include "pg/declaration.hpp"
#include "pg/rules.hpp"
#include "pg/settings.hpp"

extern "C" {
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
}

namespace {

// Source bits (PipelineItem::sources).
constexpr uint32_t from_popularity = 1, from_covisitation = 2, from_embedding = 4, from_content = 8, pinned = 16,
                   boosted = 32, from_factors = 64;
// Flag bits of a pooled candidate.
constexpr uint32_t flag_seen = 1, flag_purchased = 2, flag_excluded = 4;

// The user's tag profile keeps this many of the heaviest tags (the pipeline's personalisation);
// the heaviest few of them choose the content source's items.
constexpr size_t profile_tags_kept = 50, content_profile_tags = 3;

// Columns of the result (see recsys_rank_serve).
constexpr int result_columns = 18;

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

// The arguments of a request as plain C data (read before any C++ object exists).
struct Request {
    size_t fanout, popular_fanout, pin_slots;
    double days;  // `at` as days from the decay epoch
    TextList recent, anchors, content_tags, pool_ids, seen, purchased, excluded, given_popularity_ids, given_covis_ids,
        include_tags;
    recsys_pg::ArrayArg given_popularity, given_covis;
    bool has_factors;
    float* factors;
    int factor_count;
    double* seen_weights;
    int seen_weight_count;
    double covis_penalty;
    bool side_thread;  // the embedding and collaborative sources on a second thread
};

// What the core computed for the current call.
struct Served {
    std::vector<recsys::PooledItem> pool;  // ordered by item_id
    std::vector<std::string> pool_ids;     // the pool's ids and catalogue slots, for rule matching
    std::vector<int> pool_slots;
    std::vector<recsys::RuleEffect> effects;
    std::vector<int> named;          // how many candidates each rule names
    std::vector<size_t> rule_order;  // rule indexes by priority, then rule_id
    std::vector<std::pair<std::string, double>> profile;  // the user's tag profile
    std::vector<int> anchor_slots;      // the anchors the catalogue knows
    std::vector<float> anchor_centroid;  // their mean embedding, unit length (empty: none)
    std::vector<recsys::RankedItem> ranked;
    std::vector<int> ranked_slots;
    std::vector<recsys::RuleEffect> ranked_rules;  // the rules naming each ranked item (none without rules)
    recsys::Funnel funnel;
    std::vector<std::pair<size_t, const char*>> dropped;  // pool index, filter stage
};

Served* served = nullptr;

// Gathers the candidate pool of `r` into s.pool (with its ids and slots) and the user's profile.
void gather(const recsys::Catalog& catalog, const Request& r, const std::vector<recsys::Rule>& rules, Served& s,
            std::vector<int>* pins, std::vector<double>* given_popularity) {
    bool generate = !r.pool_ids.present;
    // The embedding, collaborative and content sources only read the catalogue's vectors,
    // factors, tag postings and availability, which nothing below writes: with a side thread
    // they run meanwhile, each on whichever thread claims it first (the side thread takes the
    // collaborative source, then the embedding one, then the content source once this thread has
    // made the user's profile; this thread takes what is left after its own sources). Their items
    // join the pool in the same order either way (the set is what counts here: the pipeline
    // scores every candidate exactly).
    std::vector<recsys::ScoredSlot> embedding_found, factor_found;
    std::vector<int> content_found;
    std::vector<std::string> content_tags;
    s.anchor_slots.clear();
    for (int a = 0; a < r.anchors.count; ++a) {
        int slot = catalog.find(r.anchors.items[a]);
        if (slot >= 0) s.anchor_slots.push_back(slot);
    }
    s.anchor_centroid = catalog.centroid(s.anchor_slots);
    std::atomic<bool> embedding_claimed{!generate || r.anchors.count == 0}, factors_claimed{!generate || !r.has_factors},
        content_claimed{!generate}, content_ready{false};
    auto embedding_source = [&] {
        if (!embedding_claimed.exchange(true))
            embedding_found = catalog.nearest(s.anchor_centroid, r.fanout, s.anchor_slots, false);
    };
    auto factor_source = [&] {
        if (!factors_claimed.exchange(true))
            factor_found = catalog.top_by_factors(std::vector<float>(r.factors, r.factors + r.factor_count), r.fanout, false);
    };
    auto content_source = [&] {
        if (!content_claimed.exchange(true)) content_found = catalog.with_any_tag(content_tags, r.fanout);
    };
    auto side_sources = [&] {
        factor_source();
        embedding_source();
        if (content_ready.load(std::memory_order_acquire)) content_source();
    };
    std::unique_ptr<recsys::SideTask> side;
    if (r.side_thread && !(embedding_claimed && factors_claimed)) side = recsys::start_beside(side_sources);
    // Meanwhile the user's tag profile (personalisation; the content source's tags unless given).
    std::vector<std::string> seen = strings(r.seen);
    std::vector<int> seen_slots;  // looked up once, for the profile and the seen flags
    seen_slots.reserve(seen.size());
    for (const std::string& id : seen) seen_slots.push_back(catalog.find(id));
    s.profile.clear();
    if (r.seen_weight_count > 0)
        s.profile = catalog.tag_profile(seen_slots,
                                        std::vector<double>(r.seen_weights, r.seen_weights + r.seen_weight_count),
                                        profile_tags_kept);
    if (generate) {
        content_tags = strings(r.content_tags);
        if (!r.content_tags.present)
            for (size_t t = 0; t < s.profile.size() && t < content_profile_tags; ++t) content_tags.push_back(s.profile[t].first);
        content_ready.store(true, std::memory_order_release);
    }
    std::vector<std::string> pin_ids = recsys::pinned_items(catalog, rules, r.pin_slots);
    recsys::CandidatePool pool([&catalog](const std::string& id) { return catalog.find(id); });
    auto add_slots = [&](const std::vector<recsys::ScoredSlot>& found, uint32_t source, bool with_score) {
        for (const recsys::ScoredSlot& f : found) pool.add(catalog.item_id(f.slot), source, with_score ? f.score : NAN, f.slot);
    };
    // Popularity given for the as_of path: every item's score at `at`.
    std::unordered_map<std::string, double> popularity_of;
    for (int i = 0; i < r.given_popularity_ids.count; ++i)
        popularity_of[r.given_popularity_ids.items[i]] = recsys_pg::float8_at(r.given_popularity, i);
    if (generate) {
        if (r.given_popularity_ids.present) {
            std::vector<std::pair<double, std::string>> best;
            for (const auto& p : popularity_of) best.emplace_back(p.second, p.first);
            size_t top = std::min(r.popular_fanout, best.size());
            std::partial_sort(best.begin(), best.begin() + static_cast<long>(top), best.end(),
                              [](const auto& a, const auto& b) { return a.first != b.first ? a.first > b.first : a.second < b.second; });
            for (size_t i = 0; i < top; ++i) pool.add(best[i].second, from_popularity);
        } else {
            add_slots(catalog.top_popular(r.popular_fanout, r.days), from_popularity, false);
        }
    }
    if (r.given_covis_ids.present) {
        for (int i = 0; i < r.given_covis_ids.count; ++i)
            pool.add(r.given_covis_ids.items[i], from_covisitation, recsys_pg::float8_at(r.given_covis, i));
    } else {
        std::vector<std::string> allowed = strings(r.pool_ids);
        std::unordered_set<std::string> within(allowed.begin(), allowed.end());
        add_slots(catalog.top_covisited(strings(r.recent), r.fanout, generate ? nullptr : &within, r.covis_penalty),
                  from_covisitation, true);
    }
    if (generate) {
        // What the second thread has not begun is run here: a thread that starts late (no idle
        // core after all) costs no wait.
        content_source();
        embedding_source();
        factor_source();
        if (side) side->join();
        for (int slot : content_found) pool.add(catalog.item_id(slot), from_content, NAN, slot);
        add_slots(embedding_found, from_embedding, false);
        add_slots(factor_found, from_factors, false);
        // Items a positive boost names join the pool, so a boost can give exposure to an item no
        // other source finds (a new item is then scored by its similarity).
        for (const recsys::Rule& rule : rules)
            if (rule.action == "boost" && rule.boost > 0)
                for (const std::string& id : rule.target.item_ids) pool.add(id, boosted);
    } else {
        for (int i = 0; i < r.pool_ids.count; ++i) pool.add(r.pool_ids.items[i], 0);
    }
    for (const std::string& id : pin_ids) pool.add(id, pinned);
    pool.flag(seen, flag_seen, &seen_slots);
    pool.flag(strings(r.purchased), flag_purchased);
    pool.flag(strings(r.excluded), flag_excluded);

    s.pool = pool.take_sorted();
    std::vector<std::string>& ids = s.pool_ids;
    ids.clear();
    s.pool_slots.clear();
    ids.reserve(s.pool.size());
    s.pool_slots.reserve(s.pool.size());
    for (const recsys::PooledItem& item : s.pool) {
        ids.push_back(item.item_id);
        s.pool_slots.push_back(item.slot);
    }
    s.rule_order = recsys::rules_by_priority(rules);
    given_popularity->clear();
    if (r.given_popularity_ids.present)
        for (const std::string& id : ids) {
            auto found = popularity_of.find(id);
            given_popularity->push_back(found == popularity_of.end() ? NAN : found->second);
        }
    std::unordered_map<std::string, int> pin_position;
    for (size_t p = 0; p < pin_ids.size(); ++p) pin_position.emplace(pin_ids[p], static_cast<int>(p));
    pins->clear();
    for (size_t i = 0; i < ids.size(); ++i) {
        auto found = pin_position.find(ids[i]);
        pins->push_back(found == pin_position.end() ? -1 : found->second);
    }
}

// Matches the rules against s.pool (s.effects, s.named) and runs the pipeline over the candidates
// the catalogue knows into s.ranked and s.funnel.
void rank(const recsys::Catalog& catalog, const Request& r, const std::vector<recsys::Rule>& rules,
          recsys::PipelineOptions& options, const std::vector<int>& pins, const std::vector<double>& given_popularity,
          Served& s) {
    // The candidates the catalogue knows (the others drop out): pool index and slot of each.
    std::vector<size_t> input;
    std::vector<int> slots;
    for (size_t i = 0; i < s.pool.size(); ++i)
        if (s.pool[i].slot >= 0) {
            input.push_back(i);
            slots.push_back(s.pool[i].slot);
        }
    std::vector<float> user_vector(r.factors, r.factors + (r.has_factors ? r.factor_count : 0));
    options.tag_profile.clear();
    for (const auto& tag : s.profile) options.tag_profile[tag.first] = tag.second;
    // Each candidate's profile weight by tag token (no tag strings read).
    recsys::IntMap<double> profile_tokens = catalog.profile_tokens(s.profile);
    constexpr size_t prefetch_distance = 4;  // items ahead whose attributes are loaded meanwhile
    bool by_factors = !user_vector.empty() && user_vector.size() == catalog.factor_rank();
    std::vector<recsys::PipelineItem> items(input.size());
    // Items [from, to): attributes and signals, read only (so two ranges can be filled at once).
    auto fill_items = [&](size_t from, size_t to) {
        for (size_t j = from; j < to; ++j) {
            if (j + prefetch_distance < to) catalog.prefetch_item(slots[j + prefetch_distance], by_factors);
            size_t i = input[j];
            const recsys::PooledItem& pooled = s.pool[i];
            int slot = slots[j];
            recsys::PipelineItem& item = items[j];
            catalog.fill(slot, item);
            item.popularity = given_popularity.empty() ? catalog.popularity(slot, r.days) : given_popularity[i];
            item.covisitation = pooled.covisitation;
            item.sources = pooled.sources;
            item.seen = pooled.flags & flag_seen;
            item.purchased_recently = pooled.flags & flag_purchased;
            item.excluded = pooled.flags & flag_excluded;
            item.pin = pins[i];
            item.profile_weight = catalog.profile_weight(slot, profile_tokens);
            double collaborative_score = catalog.factor_score(slot, user_vector);
            if (!std::isnan(collaborative_score)) {
                item.similarity = collaborative_score;
                item.collaborative = true;
            } else {
                item.similarity = std::max(0.0, catalog.cosine(slot, s.anchor_centroid));
            }
        }
    };
    // With a side thread, a large pool is filled by both threads, each taking the next chunk of
    // items while there is one (the side thread starts late, so fixed halves would leave the
    // backend's thread waiting for it).
    constexpr size_t chunk = 64, split_from = 256;
    std::atomic<size_t> next_chunk{0};
    auto fill_chunks = [&] {
        for (size_t c = next_chunk++; c * chunk < items.size(); c = next_chunk++)
            fill_items(c * chunk, std::min(items.size(), (c + 1) * chunk));
    };
    std::unique_ptr<recsys::SideTask> side;
    if (r.side_thread && items.size() >= split_from) side = recsys::start_beside(fill_chunks);
    // The rules' effects on every candidate, meanwhile: matching writes only the catalogue's kept
    // token matches, which filling does not read.
    s.effects = recsys::rule_effects(catalog, s.pool_ids, s.pool_slots, rules, &s.named);
    fill_chunks();
    if (side) side->join();
    for (size_t j = 0; j < items.size(); ++j) {
        items[j].blocked = s.effects[input[j]].blocked;
        items[j].rule_factor = s.effects[input[j]].factor;
    }
    s.funnel = recsys::Funnel();
    s.ranked = recsys::run_pipeline(items, options, &s.funnel);
    s.ranked_slots.clear();
    for (recsys::RankedItem& ranked : s.ranked) {
        s.ranked_slots.push_back(slots[ranked.index]);
        ranked.index = input[ranked.index];
    }
    s.dropped.clear();
    for (const auto& d : s.funnel.dropped) s.dropped.emplace_back(input[d.first], d.second);  // static strings of the core
}

// The funnel as JSON.
Datum funnel_json(const recsys::Funnel& f) {
    char json[512];
    snprintf(json, sizeof(json),
             "{\"candidates\": %zu, \"unavailable\": %zu, \"blocked\": %zu, \"excluded\": %zu, \"seen\": %zu, "
             "\"purchased\": %zu, \"tags\": %zu, \"price\": %zu, \"freshness\": %zu, \"eligible\": %zu, \"pinned\": %zu, "
             "\"returned\": %zu}",
             f.candidates, f.unavailable, f.blocked, f.excluded, f.seen, f.purchased, f.tags, f.price, f.freshness, f.eligible,
             f.pinned, f.returned);
    return DirectFunctionCall1(jsonb_in, CStringGetDatum(json));
}

// {item_id: stage} of the candidates the filters removed.
Datum dropped_json(const Served& s) {
    StringInfoData out;
    initStringInfo(&out);
    appendStringInfoChar(&out, '{');
    for (size_t d = 0; d < s.dropped.size(); ++d) {
        if (d > 0) appendStringInfoString(&out, ", ");
        escape_json(&out, s.pool[s.dropped[d].first].item_id.c_str());
        appendStringInfo(&out, ": \"%s\"", s.dropped[d].second);
    }
    appendStringInfoChar(&out, '}');
    return DirectFunctionCall1(jsonb_in, CStringGetDatum(out.data));
}

// {rule_id: {action, priority, candidates: how many it names}} of the rules naming some
// candidate, by priority.
Datum candidate_rules_json(const Served& s, const recsys_pg::RuleArgs& rules) {
    StringInfoData out;
    initStringInfo(&out);
    appendStringInfoChar(&out, '{');
    bool first = true;
    for (size_t r : s.rule_order) {
        if (s.named[r] == 0) continue;
        if (!first) appendStringInfoString(&out, ", ");
        first = false;
        escape_json(&out, rules.ids[r]);
        appendStringInfoString(&out, ": {\"action\": ");
        escape_json(&out, rules.actions[r]);
        appendStringInfo(&out, ", \"priority\": %d, \"candidates\": %d}", rules.priorities[r], s.named[r]);
    }
    appendStringInfoChar(&out, '}');
    return DirectFunctionCall1(jsonb_in, CStringGetDatum(out.data));
}

// The candidate ids as text[].
Datum candidate_ids(const Served& s) {
    int count = static_cast<int>(s.pool.size());
    Datum* ids = static_cast<Datum*>(palloc(sizeof(Datum) * (count + 1)));
    for (int i = 0; i < count; ++i) ids[i] = CStringGetTextDatum(s.pool[static_cast<size_t>(i)].item_id.c_str());
    return PointerGetDatum(construct_array(ids, count, TEXTOID, -1, false, TYPALIGN_INT));
}

// The user's tag profile as text[] and float8[].
void profile_arrays(const Served& s, Datum* tags, Datum* weights) {
    int count = static_cast<int>(s.profile.size());
    Datum* tag_datums = static_cast<Datum*>(palloc(sizeof(Datum) * (count + 1)));
    Datum* weight_datums = static_cast<Datum*>(palloc(sizeof(Datum) * (count + 1)));
    for (int t = 0; t < count; ++t) {
        tag_datums[t] = CStringGetTextDatum(s.profile[static_cast<size_t>(t)].first.c_str());
        weight_datums[t] = Float8GetDatum(s.profile[static_cast<size_t>(t)].second);
    }
    *tags = PointerGetDatum(construct_array(tag_datums, count, TEXTOID, -1, false, TYPALIGN_INT));
    *weights = PointerGetDatum(construct_array(weight_datums, count, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

// A catalogue string as text, NULL when empty.
Datum optional_text(const std::string& value, bool* is_null) {
    *is_null = value.empty();
    return *is_null ? static_cast<Datum>(0) : CStringGetTextDatum(value.c_str());
}

}  // namespace

extern "C" {

PG_FUNCTION_INFO_V1(recsys_rank_serve);

// _rank_serve(org, ns, surface, segment, at, k, fanout, popular_fanout, pin_slots, recent, anchors,
//   content_tags, user_factors, pool_ids, seen_ids, seen_weights, purchased, excluded,
//   given_popularity_ids, given_popularity, given_covis_ids, given_covis, covis_penalty, alpha, beta,
//   gamma, profile_boost, mmr_lambda, brand_cap, category_cap, exclude_seen, include_tags,
//   price_min, price_max, created_after, boost_floor, novelty)
//   -> setof (rank, item_id, score, blend, boost, reasons, signals, max_similarity, rule_factor,
//             brand, category, rules, funnel, dropped, candidate_rules, candidates, profile_tags,
//             profile_weights)
// The active rules are those of surface and segment at `at` (recsys._active_rules). Candidates:
// each source proposes `fanout` items, popularity `popular_fanout`; content takes the items
// carrying any of content_tags or, when that is NULL, of the 3 heaviest tags of the user's tag
// profile (Catalog::tag_profile of seen_ids with seen_weights, the 50 heaviest tags); embedding
// neighbours are those of the anchors' mean embedding. With pool_ids (a rerank) the pool is those
// ids plus the pins, co-visitation counted among them only. given_popularity_* (every item's
// popularity at `at`) and given_covis_* replace the catalogue's (the as_of path computes them
// from the events). The pin rules' items (at most pin_slots) join the pool. The user's history
// length (attenuating personalisation) is the number of seen_ids. Rows in rank order; rules: the
// rules naming the item [{rule_id, action, priority}] by priority, NULL when none. The first row
// also carries the funnel, dropped ({item_id: filter stage}), candidate_rules ({rule_id: {action,
// priority, candidates}}), the candidate ids and the profile; without results that row has rank
// NULL.
Datum recsys_rank_serve(PG_FUNCTION_ARGS) {
    recsys_pg::check_arguments(fcinfo, 37);
    for (int arg : {0, 1, 2, 4, 5, 6, 7, 23, 24, 25, 26, 27, 28, 29, 30, 35, 36})
        if (PG_ARGISNULL(arg))
            ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("argument %d of _rank_serve must not be null", arg + 1)));
    auto count_of = [&](int arg) {
        int value = PG_ARGISNULL(arg) ? 0 : PG_GETARG_INT32(arg);
        return value < 0 ? size_t{0} : static_cast<size_t>(value);
    };
    Request r;
    r.days = recsys_pg::decay_days(PG_GETARG_TIMESTAMPTZ(4));
    r.fanout = count_of(6);
    r.popular_fanout = count_of(7);
    r.pin_slots = count_of(8);
    r.recent = text_list(fcinfo, 9);
    r.anchors = text_list(fcinfo, 10);
    r.content_tags = text_list(fcinfo, 11);
    r.has_factors = !PG_ARGISNULL(12);
    recsys_pg::ArrayArg factor_arg = recsys_pg::array_arg(fcinfo, 12, FLOAT4OID);
    r.factor_count = factor_arg.count;
    r.factors = static_cast<float*>(palloc(sizeof(float) * (factor_arg.count + 1)));
    for (int d = 0; d < factor_arg.count; ++d) r.factors[d] = factor_arg.nulls[d] ? 0.0f : DatumGetFloat4(factor_arg.values[d]);
    r.pool_ids = text_list(fcinfo, 13);
    r.seen = text_list(fcinfo, 14);
    recsys_pg::ArrayArg seen_weight_arg = recsys_pg::array_arg(fcinfo, 15, FLOAT8OID);
    r.purchased = text_list(fcinfo, 16);
    r.excluded = text_list(fcinfo, 17);
    r.given_popularity_ids = text_list(fcinfo, 18);
    r.given_popularity = recsys_pg::array_arg(fcinfo, 19, FLOAT8OID);
    r.given_covis_ids = text_list(fcinfo, 20);
    r.given_covis = recsys_pg::array_arg(fcinfo, 21, FLOAT8OID);
    r.covis_penalty = PG_ARGISNULL(22) ? 0.0 : PG_GETARG_FLOAT8(22);
    r.include_tags = text_list(fcinfo, 31);
    int threads = recsys_pg::serving_threads();
    r.side_thread = threads == 2 || (threads == recsys_pg::serving_threads_auto && recsys::idle_core());
    if (r.given_covis_ids.count != r.given_covis.count || r.given_popularity_ids.count != r.given_popularity.count)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("given signal arrays differ in length")));
    if (!PG_ARGISNULL(15) && seen_weight_arg.count != r.seen.count)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("seen_ids and seen_weights differ in length")));
    r.seen_weight_count = seen_weight_arg.count;
    r.seen_weights = static_cast<double*>(palloc(sizeof(double) * (seen_weight_arg.count + 1)));
    for (int i = 0; i < seen_weight_arg.count; ++i) r.seen_weights[i] = recsys_pg::float8_at(seen_weight_arg, i);
    int k = PG_GETARG_INT32(5);
    if (k < 1) ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("k must be positive, not %d", k)));

    MemoryContext caller = CurrentMemoryContext;
    SPI_connect();
    recsys_pg::RuleArgs rule_args = recsys_pg::active_rules(fcinfo, caller);
    const recsys::Catalog& catalog = recsys_pg::current_catalog(PG_GETARG_DATUM(0), text_to_cstring(PG_GETARG_TEXT_PP(1)));
    recsys_pg::core_call([&] {
        if (served == nullptr) served = new Served();
        Served& s = *served;
        std::vector<recsys::Rule> rules = recsys_pg::to_rules(rule_args);
        std::vector<int> pins;
        std::vector<double> given_popularity;
        gather(catalog, r, rules, s, &pins, &given_popularity);
        recsys::PipelineOptions options;
        options.k = static_cast<size_t>(k);
        options.alpha = PG_GETARG_FLOAT8(23);
        options.beta = PG_GETARG_FLOAT8(24);
        options.gamma = PG_GETARG_FLOAT8(25);
        options.profile_boost = PG_GETARG_FLOAT8(26);
        options.mmr.lambda = PG_GETARG_FLOAT8(27);
        options.mmr.brand_cap = static_cast<size_t>(std::max(0, PG_GETARG_INT32(28)));
        options.mmr.category_cap = static_cast<size_t>(std::max(0, PG_GETARG_INT32(29)));
        options.exclude_seen = PG_GETARG_BOOL(30);
        options.include_tags_any = strings(r.include_tags);
        options.price_min = PG_ARGISNULL(32) ? NAN : PG_GETARG_FLOAT8(32);
        options.price_max = PG_ARGISNULL(33) ? NAN : PG_GETARG_FLOAT8(33);
        options.created_after = PG_ARGISNULL(34) ? NAN : PG_GETARG_FLOAT8(34);
        options.user_history = static_cast<size_t>(r.seen.count);
        options.boost_floor = PG_GETARG_FLOAT8(35);
        options.novelty = PG_GETARG_FLOAT8(36);
        rank(catalog, r, rules, options, pins, given_popularity, s);
        // The rules naming each served item, listed (the pool's effects only count them).
        s.ranked_rules.clear();
        if (!rules.empty()) {
            std::vector<std::string> ids;
            for (const recsys::RankedItem& ranked : s.ranked) ids.push_back(s.pool[ranked.index].item_id);
            s.ranked_rules = recsys::rule_effects(catalog, ids, s.ranked_slots, rules);
        }
    });
    // Memory allocated while SPI is connected is freed by SPI_finish; the catalogue's strings
    // stay valid until its next refresh, so the datums are built after it.
    SPI_finish();

    const Served& s = *served;
    ReturnSetInfo* rsinfo = recsys_pg::init_result_rows(fcinfo, result_columns);
    Datum values[result_columns];
    bool nulls[result_columns];
    // The request-wide columns of the first row.
    Datum funnel = funnel_json(s.funnel), dropped = dropped_json(s), candidate_rules = candidate_rules_json(s, rule_args),
          candidates = candidate_ids(s), profile_tags, profile_weights;
    profile_arrays(s, &profile_tags, &profile_weights);
    auto set_request_columns = [&](bool first) {
        Datum request[6] = {funnel, dropped, candidate_rules, candidates, profile_tags, profile_weights};
        for (int c = 0; c < 6; ++c) {
            values[12 + c] = first ? request[c] : static_cast<Datum>(0);
            nulls[12 + c] = !first;
        }
    };
    for (size_t i = 0; i < s.ranked.size(); ++i) {
        const recsys::RankedItem& ranked = s.ranked[i];
        int slot = s.ranked_slots[i];
        Datum reasons[16];
        int reason_count = 0;
        for (const std::string& reason : ranked.reasons)
            if (reason_count < 16) reasons[reason_count++] = CStringGetTextDatum(reason.c_str());
        Datum signals[3] = {Float8GetDatum(ranked.popularity), Float8GetDatum(ranked.covisitation),
                            Float8GetDatum(ranked.similarity)};
        bool has_rules = !s.ranked_rules.empty() && !s.ranked_rules[i].rules.empty();
        Datum rules = 0;
        if (has_rules) {
            StringInfoData out;
            initStringInfo(&out);
            recsys_pg::append_matching_rules(&out, rule_args, s.ranked_rules[i].rules);
            rules = DirectFunctionCall1(jsonb_in, CStringGetDatum(out.data));
        }
        values[0] = Int32GetDatum(static_cast<int32>(i + 1));
        values[1] = CStringGetTextDatum(s.pool[ranked.index].item_id.c_str());
        values[2] = Float8GetDatum(ranked.score);
        values[3] = Float8GetDatum(ranked.blend);
        values[4] = Float8GetDatum(ranked.boost);
        values[5] = PointerGetDatum(construct_array(reasons, reason_count, TEXTOID, -1, false, TYPALIGN_INT));
        values[6] = PointerGetDatum(construct_array(signals, 3, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
        values[7] = Float8GetDatum(ranked.max_similarity);
        values[8] = Float8GetDatum(ranked.rule_factor);
        values[9] = optional_text(catalog.brand(slot), &nulls[9]);
        values[10] = optional_text(catalog.category(slot), &nulls[10]);
        values[11] = rules;
        for (int c = 0; c < 9; ++c) nulls[c] = false;
        nulls[11] = !has_rules;
        set_request_columns(i == 0);
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    if (s.ranked.empty()) {
        // No row to carry the request-wide columns: they come alone, with rank NULL.
        for (int c = 0; c < 12; ++c) {
            values[c] = 0;
            nulls[c] = true;
        }
        set_request_columns(true);
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    return static_cast<Datum>(0);
}

}  // extern "C"

// SQL entry point of the ranking pipeline: recsys._rank_pipeline, called by recsys_rank
// (src/sql/serving.sql) with the gathered candidates as parallel arrays.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "core/pipeline.hpp"
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
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
}

namespace {

// Bits of the flags argument.
constexpr int flag_seen = 1;
constexpr int flag_purchased = 2;
constexpr int flag_excluded = 4;
constexpr int flag_blocked = 8;

// Largest number of reasons of one item, and their longest token.
constexpr int max_reasons = 8;
constexpr int reason_length = 32;

}  // namespace

extern "C" {

PG_FUNCTION_INFO_V1(recsys_rank_pipeline);

// _rank_pipeline(org, ns, item_ids, popularity, covisitation, sources, flags, anchors, user_factors,
//   k, alpha, beta, gamma, profile_boost, mmr_lambda, brand_cap, category_cap, exclude_seen,
//   include_tags, price_min, price_max, created_after, user_history, profile_tags, profile_weights,
//   rule_factors, pins, boost_floor, novelty, at, slots, catalog_serial)
//   -> setof (idx, score, blend, boost, reasons, funnel, signals, max_similarity, rule_factor, dropped,
//             brand, category).
// Item attributes and embeddings come from the cached catalogue (ids it lacks drop out). The
// similarity signal is the ALS score for user_factors where the item has factors, else the
// embedding cosine to the anchors' mean embedding. Popularity is the catalogue's decayed
// popularity at `at` unless the popularity array is given (the as_of path). funnel and dropped ({item_id: filter stage})
// are set on the first row only; signals are the normalised popularity, co-visitation and
// similarity that went into the blend; idx is 1-based into item_ids. slots (from
// _rank_candidates) spare looking the ids up when catalog_serial is the catalogue's serial.
Datum recsys_rank_pipeline(PG_FUNCTION_ARGS) {
    using recsys_pg::array_arg;
    recsys_pg::ArrayArg ids = array_arg(fcinfo, 2, TEXTOID);
    recsys_pg::ArrayArg popularity = array_arg(fcinfo, 3, FLOAT8OID);
    recsys_pg::ArrayArg covisitation = array_arg(fcinfo, 4, FLOAT8OID);
    recsys_pg::ArrayArg sources = array_arg(fcinfo, 5, INT4OID);
    recsys_pg::ArrayArg flags = array_arg(fcinfo, 6, INT4OID);
    recsys_pg::ArrayArg anchors = array_arg(fcinfo, 7, TEXTOID);
    recsys_pg::ArrayArg user_factors = array_arg(fcinfo, 8, FLOAT4OID);
    recsys_pg::ArrayArg include_tags = array_arg(fcinfo, 18, TEXTOID);
    recsys_pg::ArrayArg profile_tags = array_arg(fcinfo, 23, TEXTOID);
    recsys_pg::ArrayArg profile_weights = array_arg(fcinfo, 24, FLOAT8OID);
    recsys_pg::ArrayArg rule_factors = array_arg(fcinfo, 25, FLOAT8OID);
    recsys_pg::ArrayArg pins = array_arg(fcinfo, 26, INT4OID);
    recsys_pg::ArrayArg given_slots = array_arg(fcinfo, 30, INT4OID);
    int64 given_serial = PG_ARGISNULL(31) ? -1 : PG_GETARG_INT64(31);
    int n = ids.count;
    bool popularity_given = popularity.count != 0;
    double days = recsys_pg::decay_days(PG_GETARG_TIMESTAMPTZ(29));
    if (sources.count != n || flags.count != n || (popularity_given && popularity.count != n) || covisitation.count != n ||
        profile_tags.count != profile_weights.count || rule_factors.count != n || pins.count != n ||
        (given_slots.count != 0 && given_slots.count != n))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("candidate arrays differ in length")));

    // Plain C copies, so that the core call makes no PostgreSQL call.
    const char** id_text = static_cast<const char**>(palloc(sizeof(char*) * (n + 1)));
    for (int i = 0; i < n; ++i) id_text[i] = recsys_pg::text_at(ids, i);
    const char** anchor_text = static_cast<const char**>(palloc(sizeof(char*) * (anchors.count + 1)));
    for (int a = 0; a < anchors.count; ++a) anchor_text[a] = recsys_pg::text_at(anchors, a);
    float* user = static_cast<float*>(palloc(sizeof(float) * (user_factors.count + 1)));
    for (int d = 0; d < user_factors.count; ++d)
        user[d] = user_factors.nulls[d] ? 0.0f : DatumGetFloat4(user_factors.values[d]);
    const char** include_text = static_cast<const char**>(palloc(sizeof(char*) * (include_tags.count + 1)));
    for (int t = 0; t < include_tags.count; ++t) include_text[t] = recsys_pg::text_at(include_tags, t);
    const char** profile_text = static_cast<const char**>(palloc(sizeof(char*) * (profile_tags.count + 1)));
    for (int t = 0; t < profile_tags.count; ++t) profile_text[t] = recsys_pg::text_at(profile_tags, t);
    int* out_slot = static_cast<int*>(palloc(sizeof(int) * (n + 1)));

    recsys::PipelineOptions options;
    options.k = static_cast<size_t>(PG_GETARG_INT32(9));
    options.alpha = PG_GETARG_FLOAT8(10);
    options.beta = PG_GETARG_FLOAT8(11);
    options.gamma = PG_GETARG_FLOAT8(12);
    options.profile_boost = PG_GETARG_FLOAT8(13);
    options.mmr.lambda = PG_GETARG_FLOAT8(14);
    options.mmr.brand_cap = static_cast<size_t>(PG_GETARG_INT32(15));
    options.mmr.category_cap = static_cast<size_t>(PG_GETARG_INT32(16));
    options.exclude_seen = PG_GETARG_BOOL(17);
    options.price_min = PG_ARGISNULL(19) ? NAN : PG_GETARG_FLOAT8(19);
    options.price_max = PG_ARGISNULL(20) ? NAN : PG_GETARG_FLOAT8(20);
    options.created_after = PG_ARGISNULL(21) ? NAN : PG_GETARG_FLOAT8(21);
    options.user_history = static_cast<size_t>(PG_GETARG_INT32(22));
    options.boost_floor = PG_GETARG_FLOAT8(27);
    options.novelty = PG_GETARG_FLOAT8(28);

    // Results as plain data: index, scores and reasons per ranked item, and the funnel.
    int* out_index = static_cast<int*>(palloc(sizeof(int) * (n + 1)));
    double* out_score = static_cast<double*>(palloc(sizeof(double) * (n + 1)));
    double* out_blend = static_cast<double*>(palloc(sizeof(double) * (n + 1)));
    double* out_boost = static_cast<double*>(palloc(sizeof(double) * (n + 1)));
    double* out_signals = static_cast<double*>(palloc(sizeof(double) * 3 * (n + 1)));
    double* out_similarity = static_cast<double*>(palloc(sizeof(double) * (n + 1)));
    double* out_factor = static_cast<double*>(palloc(sizeof(double) * (n + 1)));
    int* out_reason_count = static_cast<int*>(palloc(sizeof(int) * (n + 1)));
    char(*out_reasons)[max_reasons][reason_length] =
        static_cast<char(*)[max_reasons][reason_length]>(palloc(sizeof(char[max_reasons][reason_length]) * (n + 1)));
    int returned = 0;
    char funnel_json[512];
    int* drop_index = static_cast<int*>(palloc(sizeof(int) * (n + 1)));
    const char** drop_stage = static_cast<const char**>(palloc(sizeof(const char*) * (n + 1)));
    int dropped = 0;
    SPI_connect();
    const recsys::Catalog& catalog = recsys_pg::current_catalog(PG_GETARG_DATUM(0), text_to_cstring(PG_GETARG_TEXT_PP(1)));
    recsys_pg::core_call([&] {
        // Candidates the catalogue knows, with `input` mapping each back to its position in item_ids.
        std::vector<recsys::PipelineItem> items;
        std::vector<int> input, slots;
        items.reserve(static_cast<size_t>(n));
        std::vector<int> anchor_slots;
        for (int a = 0; a < anchors.count; ++a) {
            int slot = catalog.find(anchor_text[a]);
            if (slot >= 0) anchor_slots.push_back(slot);
        }
        std::vector<float> user_embedding = catalog.centroid(anchor_slots);
        std::vector<float> user_vector(user, user + user_factors.count);
        for (int t = 0; t < profile_tags.count; ++t)
            options.tag_profile[profile_text[t]] = recsys_pg::float8_at(profile_weights, t);
        // Each candidate's profile weight by tag token (no tag strings read).
        recsys::IntMap<double> profile_tokens =
            catalog.profile_tokens({options.tag_profile.begin(), options.tag_profile.end()});
        bool slots_valid = given_slots.count == n && given_serial == static_cast<int64>(catalog.serial());
        std::vector<int> slot_of(static_cast<size_t>(n));
        for (int i = 0; i < n; ++i) {
            int slot = slots_valid ? (given_slots.nulls[i] ? -1 : DatumGetInt32(given_slots.values[i])) : catalog.find(id_text[i]);
            slot_of[static_cast<size_t>(i)] = slot >= 0 && static_cast<size_t>(slot) < catalog.size() ? slot : -1;
        }
        constexpr int prefetch_distance = 4;  // items ahead whose attributes are loaded meanwhile
        bool by_factors = !user_vector.empty() && user_vector.size() == catalog.factor_rank();
        for (int i = 0; i < n; ++i) {
            if (i + prefetch_distance < n && slot_of[static_cast<size_t>(i + prefetch_distance)] >= 0)
                catalog.prefetch_item(slot_of[static_cast<size_t>(i + prefetch_distance)], by_factors);
            int slot = slot_of[static_cast<size_t>(i)];
            if (slot < 0) continue;
            items.emplace_back();
            input.push_back(i);
            slots.push_back(slot);
            recsys::PipelineItem& item = items.back();
            catalog.fill(slot, item);
            item.popularity = popularity_given ? recsys_pg::float8_at(popularity, i) : catalog.popularity(slot, days);
            item.covisitation = recsys_pg::float8_at(covisitation, i);
            item.sources = sources.nulls[i] ? 0u : static_cast<uint32_t>(DatumGetInt32(sources.values[i]));
            int f = flags.nulls[i] ? 0 : DatumGetInt32(flags.values[i]);
            item.seen = f & flag_seen;
            item.purchased_recently = f & flag_purchased;
            item.excluded = f & flag_excluded;
            item.blocked = f & flag_blocked;
            double factor = recsys_pg::float8_at(rule_factors, i);
            item.rule_factor = std::isnan(factor) ? 1.0 : factor;
            item.pin = pins.nulls[i] ? -1 : DatumGetInt32(pins.values[i]);
            item.profile_weight = catalog.profile_weight(slot, profile_tokens);
            double collaborative_score = catalog.factor_score(slot, user_vector);
            if (!std::isnan(collaborative_score)) {
                item.similarity = collaborative_score;
                item.collaborative = true;
            } else {
                item.similarity = catalog.cosine(slot, user_embedding);
                if (item.similarity < 0.0) item.similarity = 0.0;
            }
        }
        for (int t = 0; t < include_tags.count; ++t) options.include_tags_any.emplace_back(include_text[t]);

        recsys::Funnel funnel;
        std::vector<recsys::RankedItem> ranked = recsys::run_pipeline(items, options, &funnel);
        for (const recsys::RankedItem& r : ranked) {
            out_index[returned] = input[r.index];
            out_slot[returned] = slots[r.index];
            out_score[returned] = r.score;
            out_blend[returned] = r.blend;
            out_boost[returned] = r.boost;
            out_signals[returned * 3] = r.popularity;
            out_signals[returned * 3 + 1] = r.covisitation;
            out_signals[returned * 3 + 2] = r.similarity;
            out_similarity[returned] = r.max_similarity;
            out_factor[returned] = r.rule_factor;
            out_reason_count[returned] = 0;
            for (const std::string& reason : r.reasons) {
                if (out_reason_count[returned] == max_reasons) break;
                snprintf(out_reasons[returned][out_reason_count[returned]++], reason_length, "%s", reason.c_str());
            }
            ++returned;
        }
        for (const auto& d : funnel.dropped) {
            drop_index[dropped] = input[d.first];
            drop_stage[dropped++] = d.second;  // static strings of the core
        }
        snprintf(funnel_json, sizeof(funnel_json),
                      "{\"candidates\": %zu, \"unavailable\": %zu, \"blocked\": %zu, \"excluded\": %zu, "
                      "\"seen\": %zu, \"purchased\": %zu, \"tags\": %zu, \"price\": %zu, \"freshness\": %zu, "
                      "\"eligible\": %zu, \"pinned\": %zu, \"returned\": %zu}",
                      funnel.candidates, funnel.unavailable, funnel.blocked, funnel.excluded, funnel.seen,
                      funnel.purchased, funnel.tags, funnel.price, funnel.freshness, funnel.eligible, funnel.pinned,
                      funnel.returned);
    });
    // Memory allocated while SPI is connected is freed by SPI_finish; the catalogue's strings stay
    // valid until its next refresh, so the brands and categories are copied after it.
    SPI_finish();
    Datum* brand_datum = static_cast<Datum*>(palloc(sizeof(Datum) * (returned + 1)));
    Datum* category_datum = static_cast<Datum*>(palloc(sizeof(Datum) * (returned + 1)));
    bool* brand_null = static_cast<bool*>(palloc(sizeof(bool) * (returned + 1)));
    bool* category_null = static_cast<bool*>(palloc(sizeof(bool) * (returned + 1)));
    for (int r = 0; r < returned; ++r) {
        const char* brand = catalog.brand(out_slot[r]).c_str();
        const char* category = catalog.category(out_slot[r]).c_str();
        brand_null[r] = brand[0] == '\0';
        category_null[r] = category[0] == '\0';
        brand_datum[r] = brand_null[r] ? 0 : CStringGetTextDatum(brand);
        category_datum[r] = category_null[r] ? 0 : CStringGetTextDatum(category);
    }

    ReturnSetInfo* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
    InitMaterializedSRF(fcinfo, 0);
    Datum funnel = DirectFunctionCall1(jsonb_in, CStringGetDatum(funnel_json));
    // {item_id: stage} of the candidates the filters removed.
    StringInfoData drops;
    initStringInfo(&drops);
    appendStringInfoChar(&drops, '{');
    for (int d = 0; d < dropped; ++d) {
        if (d > 0) appendStringInfoString(&drops, ", ");
        escape_json(&drops, id_text[drop_index[d]]);
        appendStringInfo(&drops, ": \"%s\"", drop_stage[d]);
    }
    appendStringInfoChar(&drops, '}');
    Datum dropped_json = DirectFunctionCall1(jsonb_in, CStringGetDatum(drops.data));
    for (int r = 0; r < returned; ++r) {
        Datum reasons[max_reasons];
        for (int j = 0; j < out_reason_count[r]; ++j) reasons[j] = PointerGetDatum(cstring_to_text(out_reasons[r][j]));
        Datum signals[3] = {Float8GetDatum(out_signals[r * 3]), Float8GetDatum(out_signals[r * 3 + 1]),
                            Float8GetDatum(out_signals[r * 3 + 2])};
        Datum values[12] = {Int32GetDatum(out_index[r] + 1), Float8GetDatum(out_score[r]), Float8GetDatum(out_blend[r]),
                           Float8GetDatum(out_boost[r]),
                           PointerGetDatum(construct_array(reasons, out_reason_count[r], TEXTOID, -1, false, TYPALIGN_INT)),
                           funnel,
                           PointerGetDatum(construct_array(signals, 3, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL,
                                                           TYPALIGN_DOUBLE)),
                           Float8GetDatum(out_similarity[r]), Float8GetDatum(out_factor[r]), dropped_json,
                           brand_datum[r], category_datum[r]};
        bool nulls[12] = {false, false, false, false, false, r != 0, false, false, false, r != 0, brand_null[r],
                          category_null[r]};
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    if (returned == 0) {
        // No row to carry the funnel: return it alone with idx NULL.
        Datum values[12] = {0, 0, 0, 0, 0, funnel, 0, 0, 0, dropped_json, 0, 0};
        bool nulls[12] = {true, true, true, true, true, false, true, true, true, false, true, true};
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    return static_cast<Datum>(0);
}

}  // extern "C"

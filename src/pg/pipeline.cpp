// SQL entry point of the ranking pipeline: recsys._rank_pipeline, called by recsys_rank
// (src/sql/serving.sql) with the gathered candidates as parallel arrays.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "core/pipeline.hpp"
#include "pg/arrays.hpp"
#include "pg/boundary.hpp"

extern "C" {
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
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

// _rank_pipeline(item_ids, available, price, created_at, brands, categories, tags, embeddings, dim,
//   popularity, covisitation, sources, flags, user_vector, k, alpha, beta, gamma, profile_boost,
//   mmr_lambda, brand_cap, category_cap, exclude_seen, include_tags, price_min, price_max,
//   created_after, user_history, profile_tags, profile_weights, rule_factors, pins, boost_floor,
//   collaborative, novelty) -- collaborative: the ALS score per item (NaN: none), used as the similarity
//   signal instead of the embedding cosine where given; empty when the namespace has no model.
//   -> setof (idx, score, blend, boost, reasons, funnel, signals, max_similarity, rule_factor, dropped);
//   funnel and dropped ({item_id: filter stage}) are set on the first row only; signals are the
//   normalised popularity, co-visitation and similarity that went into the blend.
Datum recsys_rank_pipeline(PG_FUNCTION_ARGS) {
    using recsys_pg::array_arg;
    recsys_pg::ArrayArg ids = array_arg(fcinfo, 0, TEXTOID);
    recsys_pg::ArrayArg available = array_arg(fcinfo, 1, BOOLOID);
    recsys_pg::ArrayArg price = array_arg(fcinfo, 2, FLOAT8OID);
    recsys_pg::ArrayArg created = array_arg(fcinfo, 3, FLOAT8OID);
    recsys_pg::ArrayArg brands = array_arg(fcinfo, 4, TEXTOID);
    recsys_pg::ArrayArg categories = array_arg(fcinfo, 5, TEXTOID);
    recsys_pg::ArrayArg tags = array_arg(fcinfo, 6, TEXTOID);
    recsys_pg::ArrayArg embeddings = array_arg(fcinfo, 7, FLOAT4OID);
    int dim = PG_GETARG_INT32(8);
    recsys_pg::ArrayArg popularity = array_arg(fcinfo, 9, FLOAT8OID);
    recsys_pg::ArrayArg covisitation = array_arg(fcinfo, 10, FLOAT8OID);
    recsys_pg::ArrayArg sources = array_arg(fcinfo, 11, INT4OID);
    recsys_pg::ArrayArg flags = array_arg(fcinfo, 12, INT4OID);
    recsys_pg::ArrayArg user_vector = array_arg(fcinfo, 13, FLOAT4OID);
    recsys_pg::ArrayArg include_tags = array_arg(fcinfo, 23, TEXTOID);
    recsys_pg::ArrayArg profile_tags = array_arg(fcinfo, 28, TEXTOID);
    recsys_pg::ArrayArg profile_weights = array_arg(fcinfo, 29, FLOAT8OID);
    recsys_pg::ArrayArg rule_factors = array_arg(fcinfo, 30, FLOAT8OID);
    recsys_pg::ArrayArg pins = array_arg(fcinfo, 31, INT4OID);
    double boost_floor = PG_GETARG_FLOAT8(32);
    recsys_pg::ArrayArg collaborative = array_arg(fcinfo, 33, FLOAT8OID);
    double novelty = PG_GETARG_FLOAT8(34);
    int n = ids.count;
    if (available.count != n || price.count != n || created.count != n || sources.count != n || flags.count != n ||
        popularity.count != n || covisitation.count != n || (embeddings.count != 0 && embeddings.count != n * dim) ||
        profile_tags.count != profile_weights.count || rule_factors.count != n || pins.count != n ||
        (collaborative.count != 0 && collaborative.count != n))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("candidate arrays differ in length")));

    // Plain C copies, so that the core call makes no PostgreSQL call.
    const char** id_text = static_cast<const char**>(palloc(sizeof(char*) * (n + 1)));
    const char** brand_text = static_cast<const char**>(palloc(sizeof(char*) * (n + 1)));
    const char** category_text = static_cast<const char**>(palloc(sizeof(char*) * (n + 1)));
    const char** tag_text = static_cast<const char**>(palloc(sizeof(char*) * (n + 1)));
    float* vectors = static_cast<float*>(palloc(sizeof(float) * (static_cast<size_t>(n) * dim + 1)));
    bool* has_vector = static_cast<bool*>(palloc(sizeof(bool) * (n + 1)));
    for (int i = 0; i < n; ++i) {
        id_text[i] = recsys_pg::text_at(ids, i);
        brand_text[i] = recsys_pg::text_at(brands, i);
        category_text[i] = recsys_pg::text_at(categories, i);
        tag_text[i] = recsys_pg::text_at(tags, i);
        has_vector[i] = embeddings.count != 0 && dim > 0 && !embeddings.nulls[i * dim] &&
                        !std::isnan(DatumGetFloat4(embeddings.values[i * dim]));
        for (int d = 0; has_vector[i] && d < dim; ++d)
            vectors[static_cast<size_t>(i) * dim + d] = DatumGetFloat4(embeddings.values[i * dim + d]);
    }
    float* user = static_cast<float*>(palloc(sizeof(float) * (user_vector.count + 1)));
    for (int d = 0; d < user_vector.count; ++d) user[d] = user_vector.nulls[d] ? 0.0f : DatumGetFloat4(user_vector.values[d]);
    const char** include_text = static_cast<const char**>(palloc(sizeof(char*) * (include_tags.count + 1)));
    for (int t = 0; t < include_tags.count; ++t) include_text[t] = recsys_pg::text_at(include_tags, t);
    const char** profile_text = static_cast<const char**>(palloc(sizeof(char*) * (profile_tags.count + 1)));
    for (int t = 0; t < profile_tags.count; ++t) profile_text[t] = recsys_pg::text_at(profile_tags, t);

    recsys::PipelineOptions options;
    options.k = static_cast<size_t>(PG_GETARG_INT32(14));
    options.alpha = PG_GETARG_FLOAT8(15);
    options.beta = PG_GETARG_FLOAT8(16);
    options.gamma = PG_GETARG_FLOAT8(17);
    options.profile_boost = PG_GETARG_FLOAT8(18);
    options.mmr.lambda = PG_GETARG_FLOAT8(19);
    options.mmr.brand_cap = static_cast<size_t>(PG_GETARG_INT32(20));
    options.mmr.category_cap = static_cast<size_t>(PG_GETARG_INT32(21));
    options.exclude_seen = PG_GETARG_BOOL(22);
    options.price_min = PG_ARGISNULL(24) ? NAN : PG_GETARG_FLOAT8(24);
    options.price_max = PG_ARGISNULL(25) ? NAN : PG_GETARG_FLOAT8(25);
    options.created_after = PG_ARGISNULL(26) ? NAN : PG_GETARG_FLOAT8(26);
    options.user_history = static_cast<size_t>(PG_GETARG_INT32(27));
    options.boost_floor = boost_floor;
    options.novelty = novelty;

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
    recsys_pg::core_call([&] {
        std::vector<recsys::PipelineItem> items(static_cast<size_t>(n));
        std::vector<float> user_embedding(user, user + user_vector.count);
        for (int i = 0; i < n; ++i) {
            recsys::PipelineItem& item = items[static_cast<size_t>(i)];
            item.candidate.item_id = id_text[i];
            item.candidate.brand = brand_text[i];
            item.candidate.category = category_text[i];
            item.candidate.tags = recsys::split_joined(tag_text[i], recsys_pg::tag_separator);
            if (has_vector[i])
                item.candidate.embedding.assign(vectors + static_cast<size_t>(i) * dim,
                                                vectors + static_cast<size_t>(i + 1) * dim);
            item.available = !available.nulls[i] && DatumGetBool(available.values[i]);
            item.price = recsys_pg::float8_at(price, i);
            item.created_at = recsys_pg::float8_at(created, i);
            item.popularity = recsys_pg::float8_at(popularity, i);
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
            double collaborative_score = recsys_pg::float8_at(collaborative, i);
            if (!std::isnan(collaborative_score)) {
                item.similarity = collaborative_score;
                item.collaborative = true;
            } else if (!user_embedding.empty() && item.candidate.embedding.size() == user_embedding.size()) {
                recsys::Candidate user_as_item;
                user_as_item.embedding = user_embedding;
                item.similarity = recsys::similarity(item.candidate, user_as_item);
            }
        }
        for (int t = 0; t < include_tags.count; ++t) options.include_tags_any.emplace_back(include_text[t]);
        for (int t = 0; t < profile_tags.count; ++t)
            options.tag_profile[profile_text[t]] = recsys_pg::float8_at(profile_weights, t);

        recsys::Funnel funnel;
        std::vector<recsys::RankedItem> ranked = recsys::run_pipeline(items, options, &funnel);
        for (const recsys::RankedItem& r : ranked) {
            out_index[returned] = static_cast<int>(r.index);
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
            drop_index[dropped] = static_cast<int>(d.first);
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
        Datum values[10] = {Int32GetDatum(out_index[r] + 1), Float8GetDatum(out_score[r]), Float8GetDatum(out_blend[r]),
                           Float8GetDatum(out_boost[r]),
                           PointerGetDatum(construct_array(reasons, out_reason_count[r], TEXTOID, -1, false, TYPALIGN_INT)),
                           funnel,
                           PointerGetDatum(construct_array(signals, 3, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL,
                                                           TYPALIGN_DOUBLE)),
                           Float8GetDatum(out_similarity[r]), Float8GetDatum(out_factor[r]), dropped_json};
        bool nulls[10] = {false, false, false, false, false, r != 0, false, false, false, r != 0};
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    if (returned == 0) {
        // No row to carry the funnel: return it alone with idx NULL.
        Datum values[10] = {0, 0, 0, 0, 0, funnel, 0, 0, 0, dropped_json};
        bool nulls[10] = {true, true, true, true, true, false, true, true, true, false};
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    return static_cast<Datum>(0);
}

}  // extern "C"

// SQL entry points of the ranking primitives: recsys._mmr and recsys._blend, called by
// recsys_mmr and recsys_blend (src/sql/primitives.sql) after those have validated the JSON.
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/ranking.hpp"
#include "pg/arrays.hpp"
#include "pg/boundary.hpp"
#include "pg/declaration.hpp"

extern "C" {
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
}


extern "C" {

PG_FUNCTION_INFO_V1(recsys_mmr_internal);
PG_FUNCTION_INFO_V1(recsys_blend_internal);

// _mmr(item_ids, relevance, brands, categories, tags, embeddings, dim, k, lambda, brand_cap, category_cap)
//   -> setof (idx, max_similarity, mmr_score), in pick order. Tags of one item are joined by
//   U+001F; embeddings are n * dim values, NULL for an item without one.
Datum recsys_mmr_internal(PG_FUNCTION_ARGS) {
    recsys_pg::check_arguments(fcinfo, 11);
    recsys_pg::ArrayArg ids = recsys_pg::array_arg(fcinfo, 0, TEXTOID);
    recsys_pg::ArrayArg relevance = recsys_pg::array_arg(fcinfo, 1, FLOAT8OID);
    recsys_pg::ArrayArg brands = recsys_pg::array_arg(fcinfo, 2, TEXTOID);
    recsys_pg::ArrayArg categories = recsys_pg::array_arg(fcinfo, 3, TEXTOID);
    recsys_pg::ArrayArg tags = recsys_pg::array_arg(fcinfo, 4, TEXTOID);
    recsys_pg::ArrayArg embeddings = recsys_pg::array_arg(fcinfo, 5, FLOAT4OID);
    int dim = PG_GETARG_INT32(6);
    int n = ids.count;
    if (relevance.count != n || (embeddings.count != 0 && embeddings.count != n * dim))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("candidate arrays differ in length")));

    // Plain C copies of the inputs, so that the core call makes no PostgreSQL call.
    const char** id_text = static_cast<const char**>(palloc(sizeof(char*) * (n + 1)));
    const char** brand_text = static_cast<const char**>(palloc(sizeof(char*) * (n + 1)));
    const char** category_text = static_cast<const char**>(palloc(sizeof(char*) * (n + 1)));
    const char** tag_text = static_cast<const char**>(palloc(sizeof(char*) * (n + 1)));
    double* scores = static_cast<double*>(palloc(sizeof(double) * (n + 1)));
    float* vectors = static_cast<float*>(palloc(sizeof(float) * (static_cast<size_t>(n) * dim + 1)));
    bool* has_vector = static_cast<bool*>(palloc(sizeof(bool) * (n + 1)));
    for (int i = 0; i < n; ++i) {
        id_text[i] = recsys_pg::text_at(ids, i);
        brand_text[i] = recsys_pg::text_at(brands, i);
        category_text[i] = recsys_pg::text_at(categories, i);
        tag_text[i] = recsys_pg::text_at(tags, i);
        scores[i] = relevance.nulls[i] ? NAN : DatumGetFloat8(relevance.values[i]);
        has_vector[i] = embeddings.count != 0 && dim > 0 && !embeddings.nulls[i * dim];
        for (int d = 0; has_vector[i] && d < dim; ++d)
            vectors[static_cast<size_t>(i) * dim + d] = DatumGetFloat4(embeddings.values[i * dim + d]);
    }
    recsys::MmrOptions options;
    options.k = static_cast<size_t>(PG_GETARG_INT32(7));
    options.lambda = PG_GETARG_FLOAT8(8);
    options.brand_cap = static_cast<size_t>(PG_GETARG_INT32(9));
    options.category_cap = static_cast<size_t>(PG_GETARG_INT32(10));

    int* pick_index = static_cast<int*>(palloc(sizeof(int) * (n + 1)));
    double* pick_similarity = static_cast<double*>(palloc(sizeof(double) * (n + 1)));
    double* pick_score = static_cast<double*>(palloc(sizeof(double) * (n + 1)));
    int picked = 0;
    recsys_pg::core_call([&] {
        std::vector<double> raw(scores, scores + n);
        std::vector<double> normalized = recsys::normalize(raw);
        std::vector<recsys::Candidate> candidates(static_cast<size_t>(n));
        for (int i = 0; i < n; ++i) {
            recsys::Candidate& c = candidates[static_cast<size_t>(i)];
            c.item_id = id_text[i];
            c.relevance = normalized[static_cast<size_t>(i)];
            c.brand = brand_text[i];
            c.category = category_text[i];
            c.tags = recsys::split_joined(tag_text[i], recsys_pg::tag_separator);
            if (has_vector[i])
                c.embedding.assign(vectors + static_cast<size_t>(i) * dim, vectors + static_cast<size_t>(i + 1) * dim);
        }
        for (const recsys::MmrPick& pick : recsys::mmr_select(candidates, options)) {
            pick_index[picked] = static_cast<int>(pick.index);
            pick_similarity[picked] = pick.max_similarity;
            pick_score[picked] = pick.mmr_score;
            ++picked;
        }
    });

    ReturnSetInfo* rsinfo = recsys_pg::init_result_rows(fcinfo, 3);
    for (int p = 0; p < picked; ++p) {
        Datum values[3] = {Int32GetDatum(pick_index[p] + 1), Float8GetDatum(pick_similarity[p]),
                           Float8GetDatum(pick_score[p])};
        bool nulls[3] = {false, false, false};
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    return static_cast<Datum>(0);
}

// _blend(signals float8[] (rows x weights, NaN = missing), rows int, weights float8[])
//   -> (scores float8[], normalized float8[]).
Datum recsys_blend_internal(PG_FUNCTION_ARGS) {
    recsys_pg::check_arguments(fcinfo, 3);
    recsys_pg::ArrayArg signals = recsys_pg::array_arg(fcinfo, 0, FLOAT8OID);
    int rows = PG_GETARG_INT32(1);
    recsys_pg::ArrayArg weights = recsys_pg::array_arg(fcinfo, 2, FLOAT8OID);
    if (signals.count != rows * weights.count)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("signal matrix does not match the weights")));
    double* in = static_cast<double*>(palloc(sizeof(double) * (signals.count + 1)));
    double* w = static_cast<double*>(palloc(sizeof(double) * (weights.count + 1)));
    for (int i = 0; i < signals.count; ++i) in[i] = signals.nulls[i] ? NAN : DatumGetFloat8(signals.values[i]);
    for (int i = 0; i < weights.count; ++i) w[i] = weights.nulls[i] ? 0.0 : DatumGetFloat8(weights.values[i]);
    double* scores = static_cast<double*>(palloc(sizeof(double) * (rows + 1)));
    double* normalized = static_cast<double*>(palloc(sizeof(double) * (signals.count + 1)));
    int columns = weights.count;
    recsys_pg::core_call([&] {
        std::vector<double> matrix(in, in + signals.count);
        std::vector<double> weight(w, w + columns);
        std::vector<double> scaled;
        std::vector<double> result = recsys::blend(matrix, static_cast<size_t>(rows), weight, &scaled);
        std::copy(result.begin(), result.end(), scores);
        std::copy(scaled.begin(), scaled.end(), normalized);
    });

    TupleDesc desc = recsys_pg::result_row_type(fcinfo, 2);
    Datum* score_datums = static_cast<Datum*>(palloc(sizeof(Datum) * (rows + 1)));
    Datum* normalized_datums = static_cast<Datum*>(palloc(sizeof(Datum) * (signals.count + 1)));
    for (int i = 0; i < rows; ++i) score_datums[i] = Float8GetDatum(scores[i]);
    for (int i = 0; i < signals.count; ++i) normalized_datums[i] = Float8GetDatum(normalized[i]);
    Datum values[2] = {
        PointerGetDatum(construct_array(score_datums, rows, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE)),
        PointerGetDatum(construct_array(normalized_datums, signals.count, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL,
                                        TYPALIGN_DOUBLE))};
    bool nulls[2] = {false, false};
    PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

}  // extern "C"

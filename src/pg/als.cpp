// SQL entry points of the collaborative-filtering model (src/core/als.hpp): training with
// progress and cancellation, fold-in of users who arrived after training, and the dot product
// that scores items for a user. Buffers are palloc'd here; core code runs through core_call.
#include <cmath>
#include <vector>

#include "core/als.hpp"
#include "pg/boundary.hpp"
#include "pg/declaration.hpp"
#include "pg/shared_state.hpp"

extern "C" {
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
}

namespace {

// The elements of a one-dimensional array argument without NULLs, as a pointer into it.
template <typename T>
const T* plain_array(FunctionCallInfo fcinfo, int arg, Oid type, const char* name, int* count) {
    ArrayType* a = PG_GETARG_ARRAYTYPE_P(arg);
    if (ARR_ELEMTYPE(a) != type || ARR_NDIM(a) > 1)
        ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH), errmsg("%s must be a one-dimensional array", name)));
    if (ARR_HASNULL(a)) ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("%s must not contain NULL", name)));
    *count = ARR_NDIM(a) == 0 ? 0 : ARR_DIMS(a)[0];
    return reinterpret_cast<const T*>(ARR_DATA_PTR(a));
}

// A palloc'd float4 array of n values.
Datum float4_array(const float* values, size_t n) {
    Datum* d = static_cast<Datum*>(palloc(sizeof(Datum) * (n + 1)));
    for (size_t i = 0; i < n; ++i) d[i] = Float4GetDatum(values[i]);
    return PointerGetDatum(construct_array(d, static_cast<int>(n), FLOAT4OID, sizeof(float4), true, TYPALIGN_INT));
}

// A palloc'd float8 array of n values.
Datum float8_array(const double* values, size_t n) {
    Datum* d = static_cast<Datum*>(palloc(sizeof(Datum) * (n + 1)));
    for (size_t i = 0; i < n; ++i) d[i] = Float8GetDatum(values[i]);
    return PointerGetDatum(construct_array(d, static_cast<int>(n), FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL,
                                           TYPALIGN_DOUBLE));
}

// Rows `rows[e]` of the interactions as compressed rows over `n_rows` (counting sort).
recsys::SparseRows compress(const int32* rows, const int32* cols, const float4* weights, int nnz, int n_rows) {
    int64_t* ptr = static_cast<int64_t*>(palloc0(sizeof(int64_t) * (n_rows + 1)));
    int32_t* out_cols = static_cast<int32_t*>(palloc(sizeof(int32_t) * (nnz + 1)));
    float* out_values = static_cast<float*>(palloc(sizeof(float) * (nnz + 1)));
    for (int e = 0; e < nnz; ++e) {
        if (rows[e] < 0 || rows[e] >= n_rows)
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("interaction index %d is out of range", rows[e])));
        ++ptr[rows[e] + 1];
    }
    for (int r = 0; r < n_rows; ++r) ptr[r + 1] += ptr[r];
    int64_t* next = static_cast<int64_t*>(palloc(sizeof(int64_t) * (n_rows + 1)));
    memcpy(next, ptr, sizeof(int64_t) * (n_rows + 1));
    for (int e = 0; e < nnz; ++e) {
        int64_t at = next[rows[e]]++;
        out_cols[at] = cols[e];
        out_values[at] = weights[e];
    }
    return {static_cast<size_t>(n_rows), ptr, out_cols, out_values};
}

// Polled by the core during a half-step: a pending cancel or timeout stops it.
bool interrupt_pending() {
    return InterruptPending != 0;
}

}  // namespace

extern "C" {

PG_FUNCTION_INFO_V1(recsys_als_train);
PG_FUNCTION_INFO_V1(recsys_als_fold_in);

// _als_train(user_index int[], item_index int[], weights real[], users int, items int, factors int,
//   regularization float8, alpha float8, iterations int, seed bigint, cg_steps int, org text,
//   namespace text) -> setof (side, idx, factors real[], losses float8[], gram float8[]): a row
//   per user (side 'user') and item ('item') with its factors, then a 'model' row with the
//   objective after each iteration and the item Gram matrix. A NOTICE and the progress slot
//   report each iteration; a cancel or statement_timeout stops it (57014).
Datum recsys_als_train(PG_FUNCTION_ARGS) {
    recsys_pg::check_arguments(fcinfo, 13);
    int nnz = 0, n_cols = 0, n_weights = 0;
    const int32* user_index = plain_array<int32>(fcinfo, 0, INT4OID, "user_index", &nnz);
    const int32* item_index = plain_array<int32>(fcinfo, 1, INT4OID, "item_index", &n_cols);
    const float4* weights = plain_array<float4>(fcinfo, 2, FLOAT4OID, "weights", &n_weights);
    if (n_cols != nnz || n_weights != nnz)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("user_index, item_index and weights differ in length")));
    int n_users = PG_GETARG_INT32(3), n_items = PG_GETARG_INT32(4);
    recsys::AlsOptions options;
    options.factors = PG_GETARG_INT32(5);
    options.regularization = PG_GETARG_FLOAT8(6);
    options.alpha = PG_GETARG_FLOAT8(7);
    int iterations = PG_GETARG_INT32(8);
    uint64_t seed = static_cast<uint64_t>(PG_GETARG_INT64(9));
    options.cg_steps = PG_GETARG_INT32(10);
    char* org = text_to_cstring(PG_GETARG_TEXT_PP(11));
    char* ns = text_to_cstring(PG_GETARG_TEXT_PP(12));
    recsys_pg::core_call([&] { recsys::check_als_options(options); });
    if (n_users < 1 || n_items < 1 || iterations < 1)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("training needs users, items and iterations")));

    recsys::SparseRows by_user = compress(user_index, item_index, weights, nnz, n_users);
    recsys::SparseRows by_item = compress(item_index, user_index, weights, nnz, n_items);
    const size_t f = static_cast<size_t>(options.factors);
    float* users = static_cast<float*>(palloc_extended(sizeof(float) * n_users * f, MCXT_ALLOC_HUGE));
    float* items = static_cast<float*>(palloc_extended(sizeof(float) * n_items * f, MCXT_ALLOC_HUGE));
    double* losses = static_cast<double*>(palloc(sizeof(double) * iterations));
    double* gram = static_cast<double*>(palloc(sizeof(double) * f * f));
    recsys_pg::core_call([&] {
        recsys::als_init(users, static_cast<size_t>(n_users), options.factors, seed, 0);
        recsys::als_init(items, static_cast<size_t>(n_items), options.factors, seed, 1);
    });

    int slot = recsys_pg::progress_begin(org, ns, iterations);
    PG_TRY();
    {
        for (int it = 0; it < iterations; ++it) {
            recsys_pg::core_call([&] {
                recsys::als_solve(by_user, items, static_cast<size_t>(n_items), users, options, interrupt_pending);
                recsys::als_solve(by_item, users, static_cast<size_t>(n_users), items, options, interrupt_pending);
                losses[it] = recsys::als_loss(by_user, users, items, static_cast<size_t>(n_items), options);
            });
            recsys_pg::progress_update(slot, it + 1, losses[it]);
            ereport(NOTICE, (errmsg("factor training iteration %d of %d: objective %.6g", it + 1, iterations, losses[it])));
            CHECK_FOR_INTERRUPTS();
        }
    }
    PG_FINALLY();
    {
        recsys_pg::progress_end(slot);
    }
    PG_END_TRY();
    recsys_pg::core_call([&] {
        std::vector<double> g = recsys::als_gram(items, static_cast<size_t>(n_items), options.factors);
        std::copy(g.begin(), g.end(), gram);
    });

    // One row per user and per item, then the model row.
    ReturnSetInfo* rsinfo = recsys_pg::init_result_rows(fcinfo, 5);
    for (int side = 0; side < 2; ++side) {
        int n = side == 0 ? n_users : n_items;
        const float* factors = side == 0 ? users : items;
        for (int r = 0; r < n; ++r) {
            Datum values[5] = {CStringGetTextDatum(side == 0 ? "user" : "item"), Int32GetDatum(r),
                               float4_array(factors + static_cast<size_t>(r) * f, f), 0, 0};
            bool nulls[5] = {false, false, false, true, true};
            tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
        }
    }
    Datum values[5] = {CStringGetTextDatum("model"), 0, 0, float8_array(losses, iterations), float8_array(gram, f * f)};
    bool nulls[5] = {false, true, true, false, false};
    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    return static_cast<Datum>(0);
}

// _als_fold_in(gram float8[], item_factors real[] (k x f), weights real[], factors int,
//   regularization float8, alpha float8) -> real[]: the factor of a user the model has not seen.
Datum recsys_als_fold_in(PG_FUNCTION_ARGS) {
    recsys_pg::check_arguments(fcinfo, 6);
    int n_gram = 0, n_rows = 0, k = 0;
    const float8* gram = plain_array<float8>(fcinfo, 0, FLOAT8OID, "gram", &n_gram);
    const float4* rows = plain_array<float4>(fcinfo, 1, FLOAT4OID, "item_factors", &n_rows);
    const float4* weights = plain_array<float4>(fcinfo, 2, FLOAT4OID, "weights", &k);
    recsys::AlsOptions options;
    options.factors = PG_GETARG_INT32(3);
    options.regularization = PG_GETARG_FLOAT8(4);
    options.alpha = PG_GETARG_FLOAT8(5);
    if (options.factors < 1 || n_rows != k * options.factors)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("item_factors must hold one row of factors per weight")));
    float* out = static_cast<float*>(palloc(sizeof(float) * options.factors));
    recsys_pg::core_call([&] {
        std::vector<double> g(gram, gram + n_gram);
        std::vector<float> w(weights, weights + k);
        std::vector<float> x = recsys::als_fold_in(g, rows, static_cast<size_t>(k), w, options);
        std::copy(x.begin(), x.end(), out);
    });
    PG_RETURN_DATUM(float4_array(out, static_cast<size_t>(options.factors)));
}

}  // extern "C"

// Implicit-feedback ALS (Hu, Koren and Volinsky, 2008): every user-item pair with weight w has
// confidence c = 1 + alpha * w and preference 1, every other pair confidence 1 and preference 0.
// Each half-step solves all rows of one side against the other side's fixed factors with a few
// conjugate-gradient steps warm-started from the current row (Takacs, Pilaszy and Tikk, 2011),
// so a step costs O(nnz * f + rows * f^2) and never forms the f x f system of a row.
// Factors live in caller-owned row-major buffers (n x f floats): the PostgreSQL layer keeps them
// in palloc'd memory between steps, where it reports progress and checks for cancellation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace recsys {

// Compressed rows: row r holds columns cols[ptr[r] .. ptr[r+1]) with weights values[...].
struct SparseRows {
    size_t rows = 0;
    const int64_t* ptr = nullptr;
    const int32_t* cols = nullptr;
    const float* values = nullptr;
};

struct AlsOptions {
    int factors = 64;
    double regularization = 0.05;
    double alpha = 10.0;  // confidence per unit of weight
    int cg_steps = 3;
};

// Checks the options; throws invalid_parameter naming the bad one.
void check_als_options(const AlsOptions& options);

// Fills `factors` (n x f) with small seeded Gaussian values (scale 0.01).
void als_init(float* factors, size_t n, int f, uint64_t seed, uint64_t stream);

// Solves every row of `solved` (one per row of `interactions`) against `fixed` (n_fixed x f).
// should_stop, when given, is polled every 256 rows; true throws a cancelled error.
void als_solve(const SparseRows& interactions, const float* fixed, size_t n_fixed, float* solved,
               const AlsOptions& options, bool (*should_stop)());

// The implicit ALS objective for users x items: sum over all pairs of c (p - x.y)^2 plus
// regularization * (|X|^2 + |Y|^2), computed in O(nnz * f + (users + items) * f^2).
double als_loss(const SparseRows& user_items, const float* users, const float* items, size_t n_items,
                const AlsOptions& options);

// The Gram matrix F^T F (f x f, row-major doubles) of n factor rows: stored with a model so that
// fold-in needs only the user's own items.
std::vector<double> als_gram(const float* factors, size_t n, int f);

// The factor of a user who is not in the model, from the item Gram matrix, the factors of the
// items they interacted with (k x f) and their weights: the exact row solve of a half-step.
std::vector<float> als_fold_in(const std::vector<double>& item_gram, const float* user_items, size_t k,
                               const std::vector<float>& weights, const AlsOptions& options);

}  // namespace recsys

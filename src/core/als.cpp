// See als.hpp.
#include "core/als.hpp"

#include <cmath>
#include <string>

#include "core/eigen.hpp"
#include "core/error.hpp"
#include "core/random.hpp"

namespace recsys {
namespace {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstRows = Eigen::Map<const RowMatrix>;

// Gram matrix F^T F of an n x f factor buffer, in double precision.
Eigen::MatrixXd gram(const float* factors, size_t n, int f) {
    ConstRows m(factors, static_cast<Eigen::Index>(n), f);
    Eigen::MatrixXd g = m.cast<double>().transpose() * m.cast<double>();
    return g;
}

// Checks that every column index of `rows` is below `n_cols`.
void check_columns(const SparseRows& rows, size_t n_cols) {
    for (int64_t e = 0; e < rows.ptr[rows.rows]; ++e)
        if (rows.cols[e] < 0 || static_cast<size_t>(rows.cols[e]) >= n_cols)
            throw Error(ErrorKind::internal, "interaction column " + std::to_string(rows.cols[e]) + " is out of range");
}

}  // namespace

void check_als_options(const AlsOptions& o) {
    if (o.factors < 1 || o.factors > 1024) throw_invalid("factors must be between 1 and 1024");
    if (!(o.regularization >= 0.0 && o.regularization <= 1e6)) throw_invalid("regularization must be between 0 and 1000000");
    if (!(o.alpha > 0.0 && o.alpha <= 1e6)) throw_invalid("alpha must be greater than 0 and at most 1000000");
    if (o.cg_steps < 1 || o.cg_steps > 100) throw_invalid("cg_steps must be between 1 and 100");
}

void als_init(float* factors, size_t n, int f, uint64_t seed, uint64_t stream) {
    for (size_t r = 0; r < n; ++r) {
        CounterRng rng(seed, stream, r);
        for (int c = 0; c < f; ++c) factors[r * static_cast<size_t>(f) + static_cast<size_t>(c)] =
            static_cast<float>(0.01 * rng.gaussian());
    }
}

void als_solve(const SparseRows& x, const float* fixed, size_t n_fixed, float* solved, const AlsOptions& o,
               bool (*should_stop)()) {
    check_als_options(o);
    check_columns(x, n_fixed);
    const int f = o.factors;
    ConstRows y(fixed, static_cast<Eigen::Index>(n_fixed), f);
    Eigen::MatrixXd yty = gram(fixed, n_fixed, f);
    yty.diagonal().array() += o.regularization;

    Eigen::VectorXd b(f), r(f), p(f), ap(f), row(f);
    for (size_t u = 0; u < x.rows; ++u) {
        if (should_stop && (u & 255) == 0 && should_stop())
            throw Error(ErrorKind::cancelled, "factor training was cancelled");
        Eigen::Map<Eigen::VectorXf> out(solved + u * static_cast<size_t>(f), f);
        row = out.cast<double>();
        // b = sum c y; A x = (YtY + reg I) x + sum (c - 1)(y . x) y.
        b.setZero();
        ap = yty * row;
        for (int64_t e = x.ptr[u]; e < x.ptr[u + 1]; ++e) {
            Eigen::VectorXd yi = y.row(x.cols[e]).transpose().cast<double>();
            double c = 1.0 + o.alpha * x.values[e];
            b += c * yi;
            ap += (c - 1.0) * yi.dot(row) * yi;
        }
        r = b - ap;
        p = r;
        double rs_old = r.squaredNorm();
        for (int step = 0; step < o.cg_steps && rs_old > 1e-20; ++step) {
            ap = yty * p;
            for (int64_t e = x.ptr[u]; e < x.ptr[u + 1]; ++e) {
                Eigen::VectorXd yi = y.row(x.cols[e]).transpose().cast<double>();
                ap += (o.alpha * x.values[e]) * yi.dot(p) * yi;
            }
            double step_size = rs_old / p.dot(ap);
            row += step_size * p;
            r -= step_size * ap;
            double rs_new = r.squaredNorm();
            p = r + (rs_new / rs_old) * p;
            rs_old = rs_new;
        }
        out = row.cast<float>();
    }
}

double als_loss(const SparseRows& x, const float* users, const float* items, size_t n_items, const AlsOptions& o) {
    check_als_options(o);
    check_columns(x, n_items);
    const int f = o.factors;
    ConstRows xu(users, static_cast<Eigen::Index>(x.rows), f);
    ConstRows yi(items, static_cast<Eigen::Index>(n_items), f);
    Eigen::MatrixXd xtx = gram(users, x.rows, f);
    Eigen::MatrixXd yty = gram(items, n_items, f);
    // Every pair as if unobserved: sum (x . y)^2 = sum of (XtX o YtY).
    double loss = (xtx.array() * yty.array()).sum();
    for (size_t u = 0; u < x.rows; ++u)
        for (int64_t e = x.ptr[u]; e < x.ptr[u + 1]; ++e) {
            double s = xu.row(static_cast<Eigen::Index>(u)).cast<double>().dot(yi.row(x.cols[e]).cast<double>());
            double c = 1.0 + o.alpha * x.values[e];
            loss += c * (1.0 - s) * (1.0 - s) - s * s;
        }
    return loss + o.regularization * (xtx.trace() + yty.trace());
}

std::vector<double> als_gram(const float* factors, size_t n, int f) {
    Eigen::MatrixXd g = gram(factors, n, f);
    std::vector<double> out(static_cast<size_t>(f) * static_cast<size_t>(f));
    Eigen::Map<Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(out.data(), f, f) = g;
    return out;
}

std::vector<float> als_fold_in(const std::vector<double>& item_gram, const float* user_items, size_t k,
                               const std::vector<float>& weights, const AlsOptions& o) {
    check_als_options(o);
    const int f = o.factors;
    if (item_gram.size() != static_cast<size_t>(f) * static_cast<size_t>(f))
        throw_invalid("the model's Gram matrix does not match its number of factors");
    if (weights.size() != k) throw_invalid("fold-in needs one weight per item");
    Eigen::MatrixXd a = Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
        item_gram.data(), f, f);
    a.diagonal().array() += o.regularization;
    ConstRows y(user_items, static_cast<Eigen::Index>(k), f);
    Eigen::VectorXd b = Eigen::VectorXd::Zero(f);
    for (size_t e = 0; e < k; ++e) {
        Eigen::VectorXd yi = y.row(static_cast<Eigen::Index>(e)).transpose().cast<double>();
        double c = 1.0 + o.alpha * weights[e];
        a += (c - 1.0) * yi * yi.transpose();
        b += c * yi;
    }
    Eigen::VectorXd solution = a.ldlt().solve(b);
    std::vector<float> out(static_cast<size_t>(f));
    for (int c = 0; c < f; ++c) out[static_cast<size_t>(c)] = static_cast<float>(solution(c));
    return out;
}

}  // namespace recsys

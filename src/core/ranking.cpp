// Normalisation, blending, similarity and MMR; see ranking.hpp.
#include "core/ranking.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "core/eigen.hpp"
#include "core/error.hpp"

namespace recsys {

std::vector<std::string> split_joined(const char* text, char separator) {
    std::vector<std::string> parts;
    std::string current;
    for (const char* p = text; ; ++p) {
        if (*p == separator || *p == '\0') {
            if (!current.empty()) parts.push_back(current);
            current.clear();
            if (*p == '\0') break;
        } else {
            current.push_back(*p);
        }
    }
    return parts;
}

std::vector<double> normalize(const std::vector<double>& values) {
    double low = std::numeric_limits<double>::infinity();
    double high = -std::numeric_limits<double>::infinity();
    for (double v : values) {
        if (std::isnan(v)) continue;
        if (std::isinf(v)) throw_invalid("signal values must be finite");
        low = std::min(low, v);
        high = std::max(high, v);
    }
    std::vector<double> out(values.size(), 0.0);
    for (size_t i = 0; i < values.size(); ++i) {
        if (std::isnan(values[i])) continue;
        out[i] = high > low ? (values[i] - low) / (high - low) : (high > 0.0 ? 1.0 : 0.0);
    }
    return out;
}

std::vector<double> blend(const std::vector<double>& signals, size_t rows, const std::vector<double>& weights,
                          std::vector<double>* normalized) {
    size_t columns = weights.size();
    if (signals.size() != rows * columns) throw Error(ErrorKind::internal, "signal matrix has the wrong size");
    std::vector<double> scores(rows, 0.0);
    normalized->assign(rows * columns, 0.0);
    std::vector<double> column(rows);
    for (size_t c = 0; c < columns; ++c) {
        if (!std::isfinite(weights[c])) throw_invalid("weights must be finite numbers");
        for (size_t r = 0; r < rows; ++r) column[r] = signals[r * columns + c];
        std::vector<double> scaled = normalize(column);
        for (size_t r = 0; r < rows; ++r) {
            (*normalized)[r * columns + c] = scaled[r];
            scores[r] += weights[c] * scaled[r];
        }
    }
    return scores;
}

double similarity(const Candidate& a, const Candidate& b) {
    if (!a.embedding.empty() && a.embedding.size() == b.embedding.size()) {
        Eigen::Map<const Eigen::VectorXf> x(a.embedding.data(), static_cast<Eigen::Index>(a.embedding.size()));
        Eigen::Map<const Eigen::VectorXf> y(b.embedding.data(), static_cast<Eigen::Index>(b.embedding.size()));
        double norms = static_cast<double>(x.norm()) * static_cast<double>(y.norm());
        if (norms <= 0.0) return 0.0;
        return std::clamp(static_cast<double>(x.dot(y)) / norms, 0.0, 1.0);
    }
    std::set<std::string> left(a.tags.begin(), a.tags.end());
    std::set<std::string> right(b.tags.begin(), b.tags.end());
    if (!a.brand.empty()) left.insert("brand:" + a.brand);
    if (!b.brand.empty()) right.insert("brand:" + b.brand);
    if (!a.category.empty()) left.insert("category:" + a.category);
    if (!b.category.empty()) right.insert("category:" + b.category);
    if (left.empty() && right.empty()) return 0.0;
    size_t shared = 0;
    for (const std::string& t : left) shared += right.count(t);
    return static_cast<double>(shared) / static_cast<double>(left.size() + right.size() - shared);
}

std::vector<MmrPick> mmr_select(const std::vector<Candidate>& candidates, const MmrOptions& options) {
    if (!(options.lambda >= 0.0 && options.lambda <= 1.0)) throw_invalid("mmr_lambda must be between 0 and 1");
    size_t n = candidates.size();
    std::vector<double> max_similarity(n, 0.0);
    std::vector<bool> taken(n, false);
    std::map<std::string, size_t> per_brand, per_category;
    std::vector<MmrPick> picks;
    while (picks.size() < options.k) {
        size_t best = n;
        double best_score = 0.0;
        for (size_t i = 0; i < n; ++i) {
            if (taken[i]) continue;
            const Candidate& c = candidates[i];
            if (options.brand_cap && !c.brand.empty() && per_brand[c.brand] >= options.brand_cap) continue;
            if (options.category_cap && !c.category.empty() && per_category[c.category] >= options.category_cap) continue;
            double score = options.lambda * c.relevance - (1.0 - options.lambda) * max_similarity[i];
            if (best == n || score > best_score || (score == best_score && c.item_id < candidates[best].item_id)) {
                best = i;
                best_score = score;
            }
        }
        if (best == n) break;
        taken[best] = true;
        picks.push_back({best, max_similarity[best], best_score});
        if (!candidates[best].brand.empty()) ++per_brand[candidates[best].brand];
        if (!candidates[best].category.empty()) ++per_category[candidates[best].category];
        for (size_t i = 0; i < n; ++i)
            if (!taken[i]) max_similarity[i] = std::max(max_similarity[i], similarity(candidates[best], candidates[i]));
    }
    return picks;
}

}  // namespace recsys

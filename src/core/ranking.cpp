// Normalisation, blending, similarity and MMR; see ranking.hpp.
#include "core/ranking.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <unordered_map>
#include <set>

#include "core/eigen.hpp"
#include "core/error.hpp"
#include "core/float_dot.hpp"

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
    if (a.vector_size() > 0 && a.vector_size() == b.vector_size()) {
        Eigen::Map<const Eigen::VectorXf> x(a.vector_data(), static_cast<Eigen::Index>(a.vector_size()));
        Eigen::Map<const Eigen::VectorXf> y(b.vector_data(), static_cast<Eigen::Index>(b.vector_size()));
        double norms = static_cast<double>(x.norm()) * static_cast<double>(y.norm());
        if (norms <= 0.0) return 0.0;
        return std::clamp(static_cast<double>(x.dot(y)) / norms, 0.0, 1.0);
    }
    std::set<std::string> left(a.tag_list().begin(), a.tag_list().end());
    std::set<std::string> right(b.tag_list().begin(), b.tag_list().end());
    if (!a.brand.empty()) left.insert("brand:" + a.brand);
    if (!b.brand.empty()) right.insert("brand:" + b.brand);
    if (!a.category.empty()) left.insert("category:" + a.category);
    if (!b.category.empty()) right.insert("category:" + b.category);
    if (left.empty() && right.empty()) return 0.0;
    size_t shared = 0;
    for (const std::string& t : left) shared += right.count(t);
    return static_cast<double>(shared) / static_cast<double>(left.size() + right.size() - shared);
}

namespace {

// Pairwise similarity over one candidate list, as similarity() computes it, with what each
// candidate needs computed once (when first needed): embedding norms, token sets as sorted ids.
class SimilarityTable {
public:
    explicit SimilarityTable(const std::vector<Candidate>& candidates)
        : candidates_(candidates), norm_(candidates.size(), NAN), tokens_(candidates.size()), tokenized_(candidates.size()) {
        for (size_t i = 0; i < candidates.size(); ++i)
            if (candidates[i].borrowed_embedding != nullptr) norm_[i] = candidates[i].borrowed_norm;
    }

    double operator()(size_t a, size_t b) const {
        const Candidate& x = candidates_[a];
        const Candidate& y = candidates_[b];
        if (x.vector_size() > 0 && x.vector_size() == y.vector_size()) {
            double norms = norm(a) * norm(b);
            if (norms <= 0.0) return 0.0;
            return std::clamp(static_cast<double>(float_dot(x.vector_data(), y.vector_data(), x.vector_size())) / norms,
                              0.0, 1.0);
        }
        const std::vector<int>& l = tokens(a);
        const std::vector<int>& r = tokens(b);
        if (l.empty() && r.empty()) return 0.0;
        size_t shared = 0;
        for (size_t i = 0, j = 0; i < l.size() && j < r.size();) {
            if (l[i] < r[j]) ++i;
            else if (r[j] < l[i]) ++j;
            else ++shared, ++i, ++j;
        }
        return static_cast<double>(shared) / static_cast<double>(l.size() + r.size() - shared);
    }

private:
    static Eigen::Map<const Eigen::VectorXf> vector(const Candidate& c) {
        return Eigen::Map<const Eigen::VectorXf>(c.vector_data(), static_cast<Eigen::Index>(c.vector_size()));
    }

    // The norm of the candidate's embedding, computed on first use.
    double norm(size_t i) const {
        if (std::isnan(norm_[i])) norm_[i] = static_cast<double>(vector(candidates_[i]).norm());
        return norm_[i];
    }

    // The candidate's tags, brand and category as sorted token ids, made on first use.
    const std::vector<int>& tokens(size_t i) const {
        if (!tokenized_[i]) {
            const Candidate& c = candidates_[i];
            std::vector<int>& t = tokens_[i];
            auto intern = [this](const std::string& token) {
                return token_ids_.emplace(token, static_cast<int>(token_ids_.size())).first->second;
            };
            for (const std::string& tag : c.tag_list()) t.push_back(intern(tag));
            if (!c.brand.empty()) t.push_back(intern("brand:" + c.brand));
            if (!c.category.empty()) t.push_back(intern("category:" + c.category));
            std::sort(t.begin(), t.end());
            t.erase(std::unique(t.begin(), t.end()), t.end());
            tokenized_[i] = true;
        }
        return tokens_[i];
    }

    const std::vector<Candidate>& candidates_;
    mutable std::vector<double> norm_;
    mutable std::vector<std::vector<int>> tokens_;
    mutable std::vector<bool> tokenized_;
    mutable std::unordered_map<std::string, int> token_ids_;
};

// Asks the processor to load a candidate's embedding into the cache.
void prefetch_vector(const Candidate& c) {
    const float* v = c.vector_data();
    for (size_t offset = 0; offset < c.vector_size(); offset += 16) __builtin_prefetch(v + offset);
}

}  // namespace

// Lazy greedy: max_similarity only grows as picks are added, so a candidate's score computed
// against the picks it has been compared with so far bounds its current score from above. The
// candidates wait in a heap by that bound (ties: smaller item_id first); the top one is brought
// up to date against the newer picks and put back, until the top is up to date: then no other
// candidate can beat it, and it is the pick a full scan would make, ties included. Candidates
// unlike the picks are compared against each pick once; those like an earlier pick sink in the
// heap and are rarely compared again.
std::vector<MmrPick> mmr_select(const std::vector<Candidate>& candidates, const MmrOptions& options) {
    if (!(options.lambda >= 0.0 && options.lambda <= 1.0)) throw_invalid("mmr_lambda must be between 0 and 1");
    size_t n = candidates.size();
    SimilarityTable similarity_of(candidates);
    std::vector<double> max_similarity(n, 0.0);
    std::vector<size_t> compared(n, 0);  // picks each candidate's max_similarity covers
    auto score_of = [&](size_t i) {
        return options.lambda * candidates[i].relevance - (1.0 - options.lambda) * max_similarity[i];
    };
    struct Entry {
        double bound;
        size_t index;
    };
    // std::push_heap keeps the greatest on top: the highest bound, then the smaller item_id.
    auto below = [&](const Entry& a, const Entry& b) {
        return a.bound != b.bound ? a.bound < b.bound : candidates[b.index].item_id < candidates[a.index].item_id;
    };
    std::vector<Entry> heap;
    heap.reserve(n);
    for (size_t i = 0; i < n; ++i) heap.push_back({score_of(i), i});
    std::make_heap(heap.begin(), heap.end(), below);
    std::map<std::string, size_t> per_brand, per_category;
    auto capped = [&](const Candidate& c) {
        return (options.brand_cap && !c.brand.empty() && per_brand[c.brand] >= options.brand_cap) ||
               (options.category_cap && !c.category.empty() && per_category[c.category] >= options.category_cap);
    };
    std::vector<MmrPick> picks;
    while (picks.size() < options.k && !heap.empty()) {
        std::pop_heap(heap.begin(), heap.end(), below);
        size_t i = heap.back().index;
        heap.pop_back();
        // The next candidate is likely compared next: its embedding is loaded meanwhile.
        if (!heap.empty()) prefetch_vector(candidates[heap.front().index]);
        // Caps only tighten: a candidate over one stays out.
        if (capped(candidates[i])) continue;
        if (compared[i] < picks.size()) {
            // Compared until it falls below the next candidate's bound: one similar pick is enough
            // to show it is not the best now.
            while (compared[i] < picks.size()) {
                max_similarity[i] = std::max(max_similarity[i], similarity_of(picks[compared[i]++].index, i));
                if (!heap.empty() && score_of(i) < heap.front().bound) break;
            }
            heap.push_back({score_of(i), i});
            std::push_heap(heap.begin(), heap.end(), below);
            continue;
        }
        picks.push_back({i, max_similarity[i], score_of(i)});
        if (!candidates[i].brand.empty()) ++per_brand[candidates[i].brand];
        if (!candidates[i].category.empty()) ++per_category[candidates[i].category];
    }
    return picks;
}

}  // namespace recsys

// The in-memory catalogue; see catalog.hpp.
#include "core/catalog.hpp"

#include <algorithm>
#include <cmath>

#include "core/codes.hpp"
#include "core/eigen.hpp"
#include "core/error.hpp"
#include "core/float_dot.hpp"
#include "core/random.hpp"

namespace recsys {

namespace {

using ConstVector = Eigen::Map<const Eigen::VectorXf>;
using ConstMatrix = Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;

// Scales `v` to unit length in place; false when it is zero or not finite.
bool make_unit(std::vector<float>& v) {
    double norm = 0.0;
    for (float x : v) norm += static_cast<double>(x) * x;
    norm = std::sqrt(norm);
    if (!(norm > 0.0) || !std::isfinite(norm)) return false;
    for (float& x : v) x = static_cast<float>(x / norm);
    return true;
}

// Starts loading n floats into the CPU cache.
void prefetch_floats(const float* values, size_t n) {
    for (size_t offset = 0; offset < n; offset += 16) __builtin_prefetch(values + offset);
}

// The n best of a stream of scored slots by `better` (a strict order), kept in a heap whose top
// is the worst of them, so that most of a long stream is rejected with one comparison.
template <typename Better>
class BestOf {
public:
    BestOf(size_t n, Better better) : n_(n), better_(better) { kept_.reserve(n + 1); }
    void offer(const ScoredSlot& s) {
        if (n_ == 0 || (kept_.size() == n_ && !better_(s, kept_.front()))) return;
        kept_.push_back(s);
        std::push_heap(kept_.begin(), kept_.end(), better_);
        if (kept_.size() > n_) {
            std::pop_heap(kept_.begin(), kept_.end(), better_);
            kept_.pop_back();
        }
    }
    // Whether n are kept, and the worst of them (when full).
    bool full() const { return n_ > 0 && kept_.size() == n_; }
    const ScoredSlot& worst() const { return kept_.front(); }
    // The kept slots, best first.
    std::vector<ScoredSlot> take() {
        std::sort_heap(kept_.begin(), kept_.end(), better_);
        return std::move(kept_);
    }

private:
    size_t n_;
    Better better_;
    std::vector<ScoredSlot> kept_;
};

// `chosen` with each slot's score replaced by exact(slot) when asked, best first by `better`.
template <typename Exact, typename Better>
std::vector<ScoredSlot> rescored(std::vector<ScoredSlot> chosen, bool exact_scores, Exact exact, Better better) {
    if (exact_scores)
        for (ScoredSlot& c : chosen) c.score = exact(c.slot);
    std::sort(chosen.begin(), chosen.end(), better);
    return chosen;
}

}  // namespace

// Serials of catalogues, process-wide.
static uint64_t last_serial = 0;

Catalog::Catalog(size_t dim)
    : dim_(dim), serial_(++last_serial), log2_(event_types), by_score_(event_types), half_life_(event_types, NAN) {}

void Catalog::post(Postings& postings, const std::string& key, int slot) {
    if (key.empty()) return;
    auto found = postings.find(key);
    if (found == postings.end()) found = postings.emplace(key, Posting(ById{&ids_})).first;
    found->second.insert(slot);
}

void Catalog::unpost(Postings& postings, const std::string& key, int slot) {
    auto found = postings.find(key);
    if (found == postings.end()) return;
    found->second.erase(slot);
    if (found->second.empty()) postings.erase(found);
}

void Catalog::upsert(const CatalogRecord& record) {
    if (!record.embedding.empty() && record.embedding.size() != dim_)
        throw_invalid("embedding of item \"" + record.item_id + "\" has " + std::to_string(record.embedding.size()) +
                      " dimensions, not " + std::to_string(dim_));
    int slot = find(record.item_id);
    if (slot < 0) {
        slot = static_cast<int>(ids_.size());
        ids_.push_back(record.item_id);
        covis_slots_.clear();  // a co-visitation number may have been an unknown id
        slot_of_.emplace(record.item_id, slot);
        available_.push_back(0);
        price_.push_back(NAN);
        created_at_.push_back(NAN);
        brand_.emplace_back();
        category_.emplace_back();
        tags_.emplace_back();
        tag_tokens_.emplace_back();
        inline_tokens_.emplace_back();
        brand_token_.push_back(-1);
        category_token_.push_back(-1);
        vectors_.resize(vectors_.size() + dim_, 0.0f);
        vector_norm_.push_back(0.0);
        has_vector_.push_back(0);
        list_of_.push_back(-1);
        factors_.resize(factors_.size() + rank_, 0.0f);
        has_factors_.push_back(0);
        for (std::vector<double>& scores : log2_)
            if (!scores.empty()) scores.push_back(-INFINITY);
        auto pending = pending_popularity_.find(record.item_id);
        if (pending != pending_popularity_.end()) {
            std::vector<std::pair<int, double>> scores = std::move(pending->second);
            pending_popularity_.erase(pending);
            for (const auto& score : scores) set_popularity(record.item_id, score.first, score.second);
        }
    } else {
        unpost(brand_postings_, brand_[static_cast<size_t>(slot)], slot);
        unpost(category_postings_, category_[static_cast<size_t>(slot)], slot);
        for (const std::string& tag : tags_[static_cast<size_t>(slot)]) unpost(tag_postings_, tag, slot);
    }
    size_t s = static_cast<size_t>(slot);
    if (s < token_matches_.slots.size()) token_matches_.slots[s].stamp = 0;  // its tokens may change
    available_[s] = record.available ? 1 : 0;
    popular_union_n_ = 0;  // availability decides the union
    price_[s] = record.price;
    created_at_[s] = record.created_at;
    brand_[s] = record.brand;
    category_[s] = record.category;
    tags_[s] = record.tags;
    tag_tokens_[s].clear();
    for (const std::string& tag : record.tags) tag_tokens_[s].push_back(token('t', tag));
    brand_token_[s] = record.brand.empty() ? -1 : token('b', record.brand);
    category_token_[s] = record.category.empty() ? -1 : token('c', record.category);
    InlineTokens& inline_tokens = inline_tokens_[s];
    inline_tokens.count = -1;
    size_t token_count = (brand_token_[s] >= 0) + (category_token_[s] >= 0) + tag_tokens_[s].size();
    if (token_count <= 7) {
        inline_tokens.count = 0;
        if (brand_token_[s] >= 0) inline_tokens.tokens[inline_tokens.count++] = brand_token_[s];
        if (category_token_[s] >= 0) inline_tokens.tokens[inline_tokens.count++] = category_token_[s];
        for (int t : tag_tokens_[s]) inline_tokens.tokens[inline_tokens.count++] = t;
    }
    post(brand_postings_, record.brand, slot);
    post(category_postings_, record.category, slot);
    for (const std::string& tag : record.tags) post(tag_postings_, tag, slot);
    std::vector<float> unit = record.embedding;
    bool had_vector = has_vector_[s] != 0;
    has_vector_[s] = !unit.empty() && make_unit(unit) ? 1 : 0;
    // An unchanged vector keeps its place and codes in the index (most updates change other
    // attributes, such as availability).
    if (had_vector && has_vector_[s] && std::equal(unit.begin(), unit.end(), vectors_.begin() + static_cast<long>(s * dim_)))
        return;
    if (has_vector_[s]) {
        std::copy(unit.begin(), unit.end(), vectors_.begin() + static_cast<long>(s * dim_));
        vector_norm_[s] = static_cast<double>(ConstVector(vectors_.data() + s * dim_, static_cast<long>(dim_)).norm());
    }
    assign_to_list(slot);
}

Catalog::TokenMatches& Catalog::token_matches(const std::vector<std::pair<int, uint64_t>>& named) const {
    TokenMatches& m = token_matches_;
    if (m.generation == 0 || named != m.named) {
        m.named = named;
        if (++m.generation == 0) {  // wrapped: no stamp may look valid
            m.slots.assign(m.slots.size(), TokenMatches::Entry{});
            m.generation = 1;
        }
    }
    m.slots.resize(ids_.size());
    return m;
}

int Catalog::find(const std::string& item_id) const {
    auto found = slot_of_.find(item_id);
    return found == slot_of_.end() ? -1 : found->second;
}

void Catalog::prefetch_item(int slot, bool by_factors) const {
    size_t s = static_cast<size_t>(slot);
    __builtin_prefetch(&ids_[s]);
    __builtin_prefetch(&brand_[s]);
    __builtin_prefetch(&category_[s]);
    __builtin_prefetch(&price_[s]);
    __builtin_prefetch(&created_at_[s]);
    __builtin_prefetch(&available_[s]);
    __builtin_prefetch(&has_vector_[s]);
    __builtin_prefetch(&inline_tokens_[s]);
    for (size_t t : counted_types_) __builtin_prefetch(&log2_[t][s]);
    if (by_factors && rank_ > 0) {
        __builtin_prefetch(&has_factors_[s]);
        prefetch_floats(factors_.data() + s * rank_, rank_);
    } else if (dim_ > 0) {
        prefetch_floats(vectors_.data() + s * dim_, dim_);
    }
}

IntMap<double> Catalog::profile_tokens(const std::vector<std::pair<std::string, double>>& profile) const {
    IntMap<double> tokens(profile.size());
    for (const auto& entry : profile) {
        int t = find_token('t', entry.first);
        if (t >= 0) tokens.emplace(t, entry.second);
    }
    return tokens;
}

double Catalog::profile_weight(int slot, const IntMap<double>& profile) const {
    double carried = 0.0;
    if (profile.size() == 0) return carried;
    // Every attribute token: a brand or category token never equals a tag's.
    for_each_token(slot, [&](int t) {
        if (const double* weight = profile.find(t)) carried += *weight;
    });
    return carried;
}

void Catalog::fill(int slot, PipelineItem& item) const {
    size_t s = static_cast<size_t>(slot);
    item.candidate.item_id = ids_[s];
    item.candidate.brand = brand_[s];
    item.candidate.category = category_[s];
    item.candidate.tags.clear();
    item.candidate.embedding.clear();
    item.candidate.borrowed_tags = &tags_[s];
    item.candidate.borrowed_embedding = has_vector_[s] ? vectors_.data() + s * dim_ : nullptr;
    item.candidate.borrowed_dim = has_vector_[s] ? dim_ : 0;
    item.candidate.borrowed_norm = vector_norm_[s];
    item.available = available_[s] != 0;
    item.price = price_[s];
    item.created_at = created_at_[s];
}

double Catalog::cosine(int slot, const std::vector<float>& unit_query) const {
    size_t s = static_cast<size_t>(slot);
    if (!has_vector_[s] || unit_query.size() != dim_) return NAN;
    return float_dot(vectors_.data() + s * dim_, unit_query.data(), dim_);
}

std::vector<float> Catalog::centroid(const std::vector<int>& slots) const {
    std::vector<float> sum(dim_, 0.0f);
    bool any = false;
    for (int slot : slots) {
        size_t s = static_cast<size_t>(slot);
        if (!has_vector_[s]) continue;
        any = true;
        for (size_t d = 0; d < dim_; ++d) sum[d] += vectors_[s * dim_ + d];
    }
    if (!any || !make_unit(sum)) return {};
    return sum;
}

std::vector<int> Catalog::merge(const std::vector<const Posting*>& postings, const std::vector<int>& extra,
                                size_t limit, bool available_only) const {
    // k-way merge of id-ordered postings (extra sorted likewise), dropping repeats.
    std::vector<Posting::const_iterator> at, end;
    for (const Posting* p : postings) {
        at.push_back(p->begin());
        end.push_back(p->end());
    }
    size_t next_extra = 0;
    std::vector<int> out;
    ById less{&ids_};
    int last = -1;
    while (out.size() < limit) {
        int pick = -1;
        for (size_t p = 0; p < at.size(); ++p)
            if (at[p] != end[p] && (pick < 0 || less(*at[p], pick))) pick = *at[p];
        if (next_extra < extra.size() && (pick < 0 || less(extra[next_extra], pick))) pick = extra[next_extra];
        if (pick < 0) break;
        for (size_t p = 0; p < at.size(); ++p)
            if (at[p] != end[p] && *at[p] == pick) ++at[p];
        if (next_extra < extra.size() && extra[next_extra] == pick) ++next_extra;
        if (pick == last || (available_only && !available_[static_cast<size_t>(pick)])) continue;
        out.push_back(pick);
        last = pick;
    }
    return out;
}

std::vector<std::pair<std::string, double>> Catalog::tag_profile(const std::vector<int>& slots,
                                                                 const std::vector<double>& weights, size_t limit) const {
    if (weights.size() != slots.size()) throw_invalid("item ids and weights differ in length");
    // Summed by tag token (no string hashing), named at the end.
    std::unordered_map<int, double> sums;
    sums.reserve(256);
    for (size_t i = 0; i < slots.size(); ++i) {
        int slot = slots[i];
        if (!(weights[i] > 0.0) || slot < 0) continue;
        for (int t : tag_tokens_[static_cast<size_t>(slot)]) sums[t] += weights[i];
    }
    std::vector<std::pair<int, double>> heaviest(sums.begin(), sums.end());
    auto heavier = [this](const auto& a, const auto& b) {
        return a.second != b.second ? a.second > b.second
                                    : token_values_[static_cast<size_t>(a.first)] < token_values_[static_cast<size_t>(b.first)];
    };
    size_t kept = std::min(limit, heaviest.size());
    std::partial_sort(heaviest.begin(), heaviest.begin() + static_cast<long>(kept), heaviest.end(), heavier);
    std::vector<std::pair<std::string, double>> profile;
    profile.reserve(kept);
    for (size_t i = 0; i < kept; ++i) profile.emplace_back(token_values_[static_cast<size_t>(heaviest[i].first)], heaviest[i].second);
    return profile;
}

std::vector<int> Catalog::with_any_tag(const std::vector<std::string>& tags, size_t limit) const {
    std::vector<const Posting*> postings;
    for (const std::string& tag : tags) {
        auto found = tag_postings_.find(tag);
        if (found != tag_postings_.end()) postings.push_back(&found->second);
    }
    return merge(postings, {}, limit, true);
}

std::vector<int> Catalog::matching(const ItemTarget& target, bool available_only) const {
    std::vector<const Posting*> postings;
    auto collect = [&postings](const Postings& from, const std::vector<std::string>& keys) {
        for (const std::string& key : keys) {
            auto found = from.find(key);
            if (found != from.end()) postings.push_back(&found->second);
        }
    };
    collect(tag_postings_, target.tags);
    collect(brand_postings_, target.brands);
    collect(category_postings_, target.categories);
    std::vector<int> listed;
    for (const std::string& id : target.item_ids) {
        int slot = find(id);
        if (slot >= 0) listed.push_back(slot);
    }
    std::sort(listed.begin(), listed.end(), ById{&ids_});
    return merge(postings, listed, ids_.size(), available_only);
}

bool Catalog::matches(const ItemTarget& target, const std::string& item_id) const {
    return matches(compile(target), item_id, find(item_id));
}

// The number of an attribute value ("kind:value"), made on first sight.
int Catalog::token(char kind, const std::string& value) {
    std::string key = std::string(1, kind) + ':' + value;
    auto added = tokens_.emplace(key, static_cast<int>(tokens_.size()));
    if (added.second) token_values_.push_back(value);
    return added.first->second;
}

// The number of an attribute value, -1 when no item ever had it.
int Catalog::find_token(char kind, const std::string& value) const {
    auto found = tokens_.find(std::string(1, kind) + ':' + value);
    return found == tokens_.end() ? -1 : found->second;
}

CompiledTarget Catalog::compile(const ItemTarget& target) const {
    CompiledTarget c;
    for (const std::string& id : target.item_ids) {
        int slot = find(id);
        if (slot >= 0)
            c.slots.push_back(slot);
        else
            c.missing_ids.insert(id);
    }
    std::sort(c.slots.begin(), c.slots.end());
    auto resolve = [this](char kind, const std::vector<std::string>& values, std::vector<int>& out) {
        for (const std::string& v : values) {
            int t = v.empty() ? -1 : find_token(kind, v);
            if (t >= 0) out.push_back(t);
        }
    };
    resolve('t', target.tags, c.tags);
    resolve('b', target.brands, c.brands);
    resolve('c', target.categories, c.categories);
    return c;
}

bool Catalog::matches(const CompiledTarget& target, const std::string& item_id, int slot) const {
    if (slot < 0) return !target.missing_ids.empty() && target.missing_ids.count(item_id) > 0;
    if (std::binary_search(target.slots.begin(), target.slots.end(), slot)) return true;
    // Tokens are distinct across kinds, so an item token found among any of the target's is named.
    bool named = false;
    for_each_token(slot, [&](int t) {
        for (const std::vector<int>* tokens : {&target.tags, &target.brands, &target.categories})
            named = named || std::find(tokens->begin(), tokens->end(), t) != tokens->end();
    });
    return named;
}

void Catalog::assign_to_list(int slot) {
    size_t s = static_cast<size_t>(slot);
    if (list_of_[s] >= 0) {
        IndexList& old = lists_[static_cast<size_t>(list_of_[s])];
        size_t at = static_cast<size_t>(std::find(old.slots.begin(), old.slots.end(), slot) - old.slots.begin());
        old.slots.erase(old.slots.begin() + static_cast<long>(at));
        old.scales.erase(old.scales.begin() + static_cast<long>(at));
        old.codes.erase(old.codes.begin() + static_cast<long>(at * dim_), old.codes.begin() + static_cast<long>((at + 1) * dim_));
        list_of_[s] = -1;
    }
    if (lists_.empty() || !has_vector_[s]) return;
    Eigen::VectorXf scores = ConstMatrix(centroids_.data(), static_cast<long>(lists_.size()), static_cast<long>(dim_)) *
                             ConstVector(vectors_.data() + s * dim_, static_cast<long>(dim_));
    Eigen::Index list;
    scores.maxCoeff(&list);
    add_to_list(static_cast<size_t>(list), slot);
}

void Catalog::add_to_list(size_t list, int slot) {
    IndexList& into = lists_[list];
    into.slots.push_back(slot);
    into.codes.resize(into.codes.size() + dim_);
    into.scales.push_back(encode(vectors_.data() + static_cast<size_t>(slot) * dim_, dim_,
                                 into.codes.data() + into.codes.size() - dim_));
    list_of_[static_cast<size_t>(slot)] = static_cast<int>(list);
}

void Catalog::set_index(const std::vector<float>& centroids, size_t probes) {
    if (!centroids.empty() && (dim_ == 0 || centroids.size() % dim_ != 0))
        throw_invalid("centroids do not match the embedding dimension");
    centroids_ = centroids;
    lists_.assign(centroids.empty() ? 0 : centroids.size() / dim_, {});
    std::fill(list_of_.begin(), list_of_.end(), -1);
    probes_ = std::max<size_t>(1, probes);
    if (lists_.empty()) return;
    // Assign every embedding at once: one matrix product instead of a product per item.
    size_t n = ids_.size();
    ConstMatrix c(centroids_.data(), static_cast<long>(lists_.size()), static_cast<long>(dim_));
    const size_t block = 4096;
    for (size_t first = 0; first < n; first += block) {
        size_t rows = std::min(block, n - first);
        Eigen::MatrixXf scores = ConstMatrix(vectors_.data() + first * dim_, static_cast<long>(rows),
                                             static_cast<long>(dim_)) * c.transpose();
        for (size_t r = 0; r < rows; ++r) {
            if (!has_vector_[first + r]) continue;
            Eigen::Index list;
            scores.row(static_cast<long>(r)).maxCoeff(&list);
            add_to_list(static_cast<size_t>(list), static_cast<int>(first + r));
        }
    }
}

std::vector<ScoredSlot> Catalog::best(std::vector<ScoredSlot>& scored, size_t n) const {
    n = std::min(n, scored.size());
    std::partial_sort(scored.begin(), scored.begin() + static_cast<long>(n), scored.end(), ByScoreThenId{&ids_});
    scored.resize(n);
    return scored;
}

std::vector<ScoredSlot> Catalog::nearest(const std::vector<float>& query, size_t n, const std::vector<int>& skip,
                                         bool exact_scores) const {
    std::vector<float> unit = query;
    if (dim_ == 0 || unit.size() != dim_ || !make_unit(unit) || n == 0) return {};
    ConstVector q(unit.data(), static_cast<long>(dim_));
    auto eligible = [&](int slot) {
        size_t s = static_cast<size_t>(slot);
        return available_[s] && has_vector_[s] && std::find(skip.begin(), skip.end(), slot) == skip.end();
    };
    auto cosine_of = [&](int slot) {
        return ConstVector(vectors_.data() + static_cast<size_t>(slot) * dim_, static_cast<long>(dim_)).dot(q);
    };
    if (lists_.empty()) {
        std::vector<ScoredSlot> scored;
        for (size_t s = 0; s < ids_.size(); ++s)
            if (eligible(static_cast<int>(s))) scored.push_back({static_cast<int>(s), cosine_of(static_cast<int>(s))});
        return best(scored, n);
    } else {
        Eigen::VectorXf list_scores =
            ConstMatrix(centroids_.data(), static_cast<long>(lists_.size()), static_cast<long>(dim_)) * q;
        std::vector<ScoredSlot> lists;
        for (size_t l = 0; l < lists_.size(); ++l) lists.push_back({static_cast<int>(l), list_scores[static_cast<long>(l)]});
        size_t probes = std::min(probes_, lists.size());
        std::partial_sort(lists.begin(), lists.begin() + static_cast<long>(probes), lists.end(),
                          [](const ScoredSlot& a, const ScoredSlot& b) {
                              return a.score != b.score ? a.score > b.score : a.slot < b.slot;
                          });
        // The probed lists are scanned with the int8 codes (a quarter of the memory traffic);
        // the n chosen get their exact cosine when asked. Codes rank almost like the vectors,
        // and the index is approximate anyway.
        QueryCodes query_codes(unit.data(), dim_);
        BestOf<ByScoreThenId> chosen(n, ByScoreThenId{&ids_});
        for (size_t p = 0; p < probes; ++p) {
            const IndexList& list = lists_[static_cast<size_t>(lists[p].slot)];
            for (size_t i = 0; i < list.slots.size(); ++i) {
                int slot = list.slots[i];
                if (eligible(slot)) chosen.offer({slot, query_codes.dot(list.codes.data() + i * dim_, list.scales[i])});
            }
        }
        return rescored(chosen.take(), exact_scores, cosine_of, ByScoreThenId{&ids_});
    }
}

void Catalog::set_factors(size_t rank, const std::vector<std::pair<std::string, std::vector<float>>>& factors) {
    rank_ = rank;
    factors_.assign(ids_.size() * rank, 0.0f);
    has_factors_.assign(ids_.size(), 0);
    for (const auto& entry : factors) {
        int slot = find(entry.first);
        if (slot < 0) continue;
        if (entry.second.size() != rank)
            throw_invalid("factors of item \"" + entry.first + "\" have " + std::to_string(entry.second.size()) +
                          " values, not " + std::to_string(rank));
        std::copy(entry.second.begin(), entry.second.end(), factors_.begin() + static_cast<long>(slot * rank));
        has_factors_[static_cast<size_t>(slot)] = 1;
    }
    // The codes of every item with non-zero factors, by the length of the vector they stand for,
    // longest first (see top_by_factors).
    std::vector<int8_t> codes(rank);
    std::vector<std::pair<float, int>> by_norm;
    std::vector<float> scale_of(ids_.size(), 0.0f);
    for (size_t s = 0; s < ids_.size(); ++s) {
        if (!has_factors_[s]) continue;
        float scale = encode(factors_.data() + s * rank, rank, codes.data());
        if (!(scale > 0.0f)) continue;
        double sum = 0.0;
        for (int8_t c : codes) sum += static_cast<double>(c) * c;
        scale_of[s] = scale;
        by_norm.emplace_back(static_cast<float>(std::sqrt(sum) / scale), static_cast<int>(s));
    }
    std::sort(by_norm.begin(), by_norm.end(), [](const auto& a, const auto& b) {
        return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    factor_order_.clear();
    factor_order_codes_.assign(by_norm.size() * rank, 0);
    factor_order_scale_.clear();
    factor_order_norm_.clear();
    for (size_t i = 0; i < by_norm.size(); ++i) {
        size_t s = static_cast<size_t>(by_norm[i].second);
        factor_order_.push_back(by_norm[i].second);
        encode(factors_.data() + s * rank, rank, factor_order_codes_.data() + i * rank);
        factor_order_scale_.push_back(scale_of[s]);
        factor_order_norm_.push_back(by_norm[i].first);
    }
}

double Catalog::factor_score(int slot, const std::vector<float>& user) const {
    size_t s = static_cast<size_t>(slot);
    if (rank_ == 0 || user.size() != rank_ || !has_factors_[s]) return NAN;
    return ConstVector(factors_.data() + s * rank_, static_cast<long>(rank_)).dot(
        ConstVector(user.data(), static_cast<long>(rank_)));
}

std::vector<ScoredSlot> Catalog::top_by_factors(const std::vector<float>& user, size_t n, bool exact_scores) const {
    if (rank_ == 0 || user.size() != rank_ || n == 0) return {};
    // Chosen with the int8 codes (a quarter of the memory traffic of the float factors), then
    // scored exactly when asked, as in nearest().
    QueryCodes user_codes(user.data(), rank_);
    BestOf<ByScoreThenId> top(n, ByScoreThenId{&ids_});
    // Items come longest vector first; no later item can score above the user's length times
    // its own (Cauchy-Schwarz on the codes), so the scan stops once that bound falls below the
    // n-th best score (the slack covers float rounding). The result is the full scan's.
    double user_norm = user_codes.norm();
    for (size_t i = 0; i < factor_order_.size(); ++i) {
        if (top.full() && user_norm * factor_order_norm_[i] * (1.0 + 1e-5) < top.worst().score) break;
        int slot = factor_order_[i];
        if (available_[static_cast<size_t>(slot)])
            top.offer({slot, user_codes.dot(factor_order_codes_.data() + i * rank_, factor_order_scale_[i])});
    }
    return rescored(top.take(), exact_scores, [&](int slot) { return factor_score(slot, user); }, ByScoreThenId{&ids_});
}

void Catalog::set_popularity(const std::string& item_id, int type, double log2_score) {
    if (type < 0 || type >= event_types) throw_invalid("event type " + std::to_string(type) + " is out of range");
    int slot = find(item_id);
    if (slot < 0) {
        std::vector<std::pair<int, double>>& pending = pending_popularity_[item_id];
        for (auto& score : pending)
            if (score.first == type) {
                score.second = log2_score;
                return;
            }
        pending.emplace_back(type, log2_score);
        return;
    }
    std::vector<double>& scores = log2_[static_cast<size_t>(type)];
    if (scores.empty()) {
        scores.assign(ids_.size(), -INFINITY);
        count_types();
    }
    popular_union_n_ = 0;
    double& current = scores[static_cast<size_t>(slot)];
    ByScore& ordered = by_score_[static_cast<size_t>(type)];
    if (!std::isinf(current)) ordered.erase({current, slot});
    current = log2_score;
    ordered.insert({log2_score, slot});
}

void Catalog::set_half_lives(const std::vector<std::pair<int, double>>& half_lives) {
    std::vector<double> given(event_types, NAN);
    for (const auto& h : half_lives)
        if (h.first >= 0 && h.first < event_types && h.second > 0) given[static_cast<size_t>(h.first)] = h.second;
    bool same = std::equal(given.begin(), given.end(), half_life_.begin(), [](double a, double b) {
        return a == b || (std::isnan(a) && std::isnan(b));
    });
    if (same) return;  // the loader sets them on every refresh
    half_life_ = std::move(given);
    count_types();
    popular_union_n_ = 0;
}

// Lists the event types that have scores and a half-life.
void Catalog::count_types() {
    counted_types_.clear();
    for (size_t t = 0; t < log2_.size(); ++t)
        if (!log2_[t].empty() && !std::isnan(half_life_[t])) counted_types_.push_back(t);
}

double Catalog::popularity(int slot, double days) const {
    double sum = 0.0;
    bool any = false;
    for (size_t t : counted_types_) {
        double l = log2_[t][static_cast<size_t>(slot)];
        if (std::isinf(l)) continue;
        any = true;
        sum += std::exp2(std::max(l - days / half_life_[t], -1000.0));
    }
    return any ? sum : NAN;
}

std::vector<ScoredSlot> Catalog::top_popular(size_t n, double days) const {
    // The union does not depend on `days`: it is kept until the scores, half-lives or
    // availability change, or another n is asked for.
    if (popular_union_n_ != n) {
        popular_union_.clear();
        for (size_t t : counted_types_) {
            size_t taken = 0;
            for (auto it = by_score_[t].begin(); it != by_score_[t].end() && taken < n; ++it) {
                if (!available_[static_cast<size_t>(it->second)]) continue;
                popular_union_.push_back(it->second);
                ++taken;
            }
        }
        std::sort(popular_union_.begin(), popular_union_.end());
        popular_union_.erase(std::unique(popular_union_.begin(), popular_union_.end()), popular_union_.end());
        popular_union_n_ = n;
    }
    std::vector<ScoredSlot> scored;
    scored.reserve(popular_union_.size());
    for (int slot : popular_union_) scored.push_back({slot, popularity(slot, days)});
    return best(scored, n);
}

std::vector<ScoredSlot> Catalog::top_covisited(const std::vector<std::string>& items, size_t n,
                                               const std::unordered_set<std::string>* within, double penalty) const {
    std::vector<ScoredSlot> out;
    // The catalogue slot of each co-visitation number, looked up once and kept (-2: not yet).
    if (covis_slots_.size() < covis_.item_count()) covis_slots_.resize(covis_.item_count(), -2);
    auto slot_of = [this](int number) {
        int& slot = covis_slots_[static_cast<size_t>(number)];
        if (slot == -2) slot = find(covis_.item_id(number));
        return slot;
    };
    auto keep = [&](int number) {
        int slot = slot_of(number);
        return slot >= 0 && available(slot) && (within == nullptr || within->count(covis_.item_id(number)) > 0);
    };
    for (const auto& found : covis_.top_neighbour_numbers(items, n, keep, penalty))
        out.push_back({slot_of(found.first), found.second});
    return out;
}

std::vector<float> spherical_kmeans(const std::vector<float>& vectors, size_t n, size_t dim, size_t lists,
                                    size_t iterations, uint64_t seed) {
    if (dim == 0 || vectors.size() != n * dim) throw_invalid("k-means input has the wrong size");
    if (lists == 0 || lists > n) throw_invalid("lists must be between 1 and the number of embeddings (" +
                                               std::to_string(n) + "), not " + std::to_string(lists));
    Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> x =
        ConstMatrix(vectors.data(), static_cast<long>(n), static_cast<long>(dim));
    for (long i = 0; i < x.rows(); ++i)
        if (x.row(i).norm() > 0.0f) x.row(i).normalize();
    // Seeds: `lists` distinct points, drawn by a partial Fisher-Yates shuffle.
    std::vector<size_t> order(n);
    for (size_t i = 0; i < n; ++i) order[i] = i;
    CounterRng rng(seed, 0x6b6d65616e73ULL, 0);
    for (size_t i = 0; i < lists; ++i) std::swap(order[i], order[i + rng.below(n - i)]);
    Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> c(static_cast<long>(lists), static_cast<long>(dim));
    for (size_t l = 0; l < lists; ++l) c.row(static_cast<long>(l)) = x.row(static_cast<long>(order[l]));
    std::vector<Eigen::Index> assigned(n);
    for (size_t it = 0; it < iterations; ++it) {
        const size_t block = 4096;
        for (size_t first = 0; first < n; first += block) {
            size_t rows = std::min(block, n - first);
            Eigen::MatrixXf scores = x.middleRows(static_cast<long>(first), static_cast<long>(rows)) * c.transpose();
            for (size_t r = 0; r < rows; ++r) scores.row(static_cast<long>(r)).maxCoeff(&assigned[first + r]);
        }
        Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> sums =
            Eigen::MatrixXf::Zero(static_cast<long>(lists), static_cast<long>(dim));
        for (size_t i = 0; i < n; ++i) sums.row(assigned[i]) += x.row(static_cast<long>(i));
        for (size_t l = 0; l < lists; ++l) {
            float norm = sums.row(static_cast<long>(l)).norm();
            // An empty list keeps its centroid.
            if (norm > 0.0f) c.row(static_cast<long>(l)) = sums.row(static_cast<long>(l)) / norm;
        }
    }
    return std::vector<float>(c.data(), c.data() + c.size());
}

}  // namespace recsys

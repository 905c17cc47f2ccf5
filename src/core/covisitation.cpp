// Co-visitation lists in memory (see covisitation.hpp).
#include "core/covisitation.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.hpp"

namespace recsys {

namespace {

struct ByItem {
    template <typename A, typename B>
    bool operator()(const A& x, const B& y) const { return x.item < y.item; }
};

// Adds sorted, run-length counted `keys` into the sorted counts `into`.
void merge_counts(std::vector<std::pair<uint64_t, int64_t>>& into, std::vector<uint64_t>& keys) {
    std::sort(keys.begin(), keys.end());
    std::vector<std::pair<uint64_t, int64_t>> runs;
    for (size_t i = 0; i < keys.size();) {
        size_t j = i;
        while (j < keys.size() && keys[j] == keys[i]) ++j;
        runs.emplace_back(keys[i], static_cast<int64_t>(j - i));
        i = j;
    }
    keys.clear();
    std::vector<std::pair<uint64_t, int64_t>> merged;
    merged.reserve(into.size() + runs.size());
    size_t i = 0, j = 0;
    while (i < into.size() || j < runs.size()) {
        if (j == runs.size() || (i < into.size() && into[i].first < runs[j].first)) {
            merged.push_back(into[i++]);
        } else if (i == into.size() || runs[j].first < into[i].first) {
            merged.push_back(runs[j++]);
        } else {
            merged.emplace_back(into[i].first, into[i].second + runs[j].second);
            ++i, ++j;
        }
    }
    into.swap(merged);
}

}  // namespace

std::vector<PairCount> count_pairs(const std::vector<VisitEvent>& events, int64_t window) {
    if (window < 0) throw_invalid("the co-visitation window must not be negative");
    // Pair keys (lower item << 32 | higher item) are buffered and folded into sorted counts in
    // blocks, so memory follows the distinct pairs rather than every event pair.
    const size_t block = size_t{1} << 23;
    std::vector<std::pair<uint64_t, int64_t>> counts;
    std::vector<uint64_t> keys;
    size_t first = 0;  // oldest event of the current user within the window of event i
    for (size_t i = 0; i < events.size(); ++i) {
        const VisitEvent& e = events[i];
        if (e.item < 0) throw_invalid("event items must be numbered from 0");
        if (i > 0 && (events[i - 1].user > e.user || (events[i - 1].user == e.user && events[i - 1].ts > e.ts)))
            throw_invalid("events must be sorted by user, then time");
        if (i == 0 || events[i - 1].user != e.user) first = i;
        while (events[first].ts < e.ts - window) ++first;
        for (size_t j = first; j < i; ++j) {
            int other = events[j].item;
            if (other == e.item) continue;
            uint64_t lo = static_cast<uint64_t>(std::min(other, e.item)), hi = static_cast<uint64_t>(std::max(other, e.item));
            keys.push_back(lo << 32 | hi);
            if (keys.size() == block) merge_counts(counts, keys);
        }
    }
    merge_counts(counts, keys);
    std::vector<PairCount> out;
    out.reserve(counts.size());
    for (const auto& c : counts)
        out.push_back({static_cast<int>(c.first >> 32), static_cast<int>(c.first & 0xffffffffu), c.second});
    return out;
}

// The dense index of an id, created on first sight.
int CoVisitation::index_of(const std::string& id) {
    auto found = index_.find(id);
    if (found != index_.end()) return found->second;
    int index = static_cast<int>(ids_.size());
    index_.emplace(id, index);
    ids_.push_back(id);
    keys_.push_back(id_key(id));
    lists_.emplace_back();
    totals_.push_back(0.0);
    return index;
}

// The dense index of an id, -1 when it has never had a pair.
int CoVisitation::find(const std::string& id) const {
    auto found = index_.find(id);
    return found == index_.end() ? -1 : found->second;
}

// A pair count as stored: non-negative, at most 2^32 - 1.
uint32_t CoVisitation::saturated(int64_t pairs) {
    if (pairs <= 0) return 0;
    return static_cast<uint32_t>(std::min<int64_t>(pairs, std::numeric_limits<uint32_t>::max()));
}

void CoVisitation::add_pair(const std::string& a, const std::string& b, int64_t pairs) {
    if (a == b) throw_invalid("an item cannot be co-visited with itself (" + a + ")");
    uint32_t count = saturated(pairs);
    if (count == 0) return;
    int x = index_of(a), y = index_of(b);
    lists_[static_cast<size_t>(x)].push_back({y, count});
    lists_[static_cast<size_t>(y)].push_back({x, count});
    totals_[static_cast<size_t>(x)] += count;
    totals_[static_cast<size_t>(y)] += count;
    entries_ += 2;
    penalised_totals_.clear();
}

void CoVisitation::load_counts(const std::vector<std::string>& ids, const std::vector<PairCount>& counts) {
    if (!ids_.empty()) throw_invalid("co-visitation counts can only be loaded into an empty set");
    std::vector<int> index(ids.size(), -1);
    std::vector<size_t> degree(ids.size(), 0);
    for (const PairCount& c : counts) {
        if (c.a < 0 || c.b < 0 || static_cast<size_t>(c.a) >= ids.size() || static_cast<size_t>(c.b) >= ids.size() || c.a == c.b)
            throw_invalid("co-visitation counts name items outside the id list");
        ++degree[static_cast<size_t>(c.a)];
        ++degree[static_cast<size_t>(c.b)];
    }
    for (size_t i = 0; i < ids.size(); ++i)
        if (degree[i] > 0) {
            index[i] = index_of(ids[i]);
            lists_[static_cast<size_t>(index[i])].reserve(degree[i]);
        }
    for (const PairCount& c : counts) {
        uint32_t count = saturated(c.pairs);
        if (count == 0) continue;
        int x = index[static_cast<size_t>(c.a)], y = index[static_cast<size_t>(c.b)];
        lists_[static_cast<size_t>(x)].push_back({y, count});
        lists_[static_cast<size_t>(y)].push_back({x, count});
        totals_[static_cast<size_t>(x)] += count;
        totals_[static_cast<size_t>(y)] += count;
        entries_ += 2;
    }
    finish_load();
}

void CoVisitation::finish_load() {
    penalised_totals_.clear();
    for (List& list : lists_) std::sort(list.begin(), list.end(), ByItem());
}

void CoVisitation::set_entry(int owner, int item, uint32_t count) {
    List& list = lists_[static_cast<size_t>(owner)];
    auto at = std::lower_bound(list.begin(), list.end(), Neighbour{item, 0}, ByItem());
    bool present = at != list.end() && at->item == item;
    double& total = totals_[static_cast<size_t>(owner)];
    if (present) total -= at->pairs;
    total += count;
    penalised_totals_.clear();
    if (count == 0) {
        if (present) {
            list.erase(at);
            --entries_;
        }
    } else if (present) {
        at->pairs = count;
    } else {
        list.insert(at, {item, count});
        ++entries_;
    }
}

void CoVisitation::replace(const std::string& item, const std::vector<std::pair<std::string, int64_t>>& pairs) {
    int x = index_of(item);
    List fresh;
    fresh.reserve(pairs.size());
    for (const auto& p : pairs) {
        if (p.first == item) throw_invalid("an item cannot be co-visited with itself (" + item + ")");
        uint32_t count = saturated(p.second);
        if (count > 0) fresh.push_back({index_of(p.first), count});
    }
    std::sort(fresh.begin(), fresh.end(), ByItem());
    // Walk the old and new lists together: changed counts are updated in place in the
    // neighbour's list, vanished pairs removed, new ones inserted.
    const List& old = lists_[static_cast<size_t>(x)];
    size_t i = 0, j = 0;
    while (i < old.size() || j < fresh.size()) {
        if (j == fresh.size() || (i < old.size() && old[i].item < fresh[j].item)) {
            set_entry(old[i++].item, x, 0);
        } else {
            if (i < old.size() && old[i].item == fresh[j].item) ++i;
            set_entry(fresh[j].item, x, fresh[j].pairs);
            ++j;
        }
    }
    entries_ = entries_ - lists_[static_cast<size_t>(x)].size() + fresh.size();
    double total = 0.0;
    for (const Neighbour& nb : fresh) total += nb.pairs;
    totals_[static_cast<size_t>(x)] = total;
    penalised_totals_.clear();
    lists_[static_cast<size_t>(x)] = std::move(fresh);
}

int64_t CoVisitation::pairs(const std::string& a, const std::string& b) const {
    int x = find(a), y = find(b);
    if (x < 0 || y < 0) return 0;
    const List& list = lists_[static_cast<size_t>(x)];
    auto at = std::lower_bound(list.begin(), list.end(), Neighbour{y, 0}, ByItem());
    return at != list.end() && at->item == y ? at->pairs : 0;
}

double CoVisitation::total(const std::string& item) const {
    int x = find(item);
    return x < 0 ? 0.0 : totals_[static_cast<size_t>(x)];
}

// Whole-number scores (sums of pair counts without a penalty) are selected by counting when the
// boundary is below this bound.
constexpr size_t counted_scores = 1024;

// The count-th best score of [first, last) (count < its size) when every score there is a whole
// number and that one is below counted_scores, found by counting; NaN otherwise.
template <typename Iterator>
static double counted_boundary(Iterator first, Iterator last, size_t count) {
    std::vector<uint32_t> histogram(counted_scores, 0);
    size_t at_least = 0;  // first the scores above every counted one
    for (Iterator it = first; it != last; ++it) {
        double score = it->first;
        if (!(score >= 0.0) || score != std::floor(score)) return std::numeric_limits<double>::quiet_NaN();
        if (score >= static_cast<double>(counted_scores))
            ++at_least;
        else
            ++histogram[static_cast<size_t>(score)];
    }
    if (at_least >= count) return std::numeric_limits<double>::quiet_NaN();
    for (size_t score = counted_scores; score-- > 0;)
        if ((at_least += histogram[score]) >= count) return static_cast<double>(score);
    return std::numeric_limits<double>::quiet_NaN();
}

// Puts the `count` best of [first, last) first, in the order of `better` (score descending, then
// item_id): chosen by score alone, comparing ids only among the items tied with the last one
// chosen (sums of pair counts tie often, and ids are strings). Whole-number scores are chosen by
// counting: comparison-based selection is slow when most scores are equal.
template <typename Iterator, typename Better>
static void select_best(Iterator first, Iterator last, size_t count, Better better) {
    if (count == 0) return;
    if (count >= static_cast<size_t>(last - first)) {
        std::sort(first, last, better);
        return;
    }
    Iterator nth = first + static_cast<long>(count) - 1;
    // [first, tied) score above the boundary, [tied, tied_end) equal it; nth lies in the latter.
    Iterator tied, tied_end;
    double boundary = counted_boundary(first, last, count);
    auto above = [&boundary](const auto& x) { return x.first > boundary; };
    auto equal = [&boundary](const auto& x) { return x.first == boundary; };
    if (std::isnan(boundary)) {
        std::nth_element(first, nth, last, [](const auto& a, const auto& b) { return a.first > b.first; });
        boundary = nth->first;
        tied = std::partition(first, nth + 1, above);
        tied_end = std::partition(nth + 1, last, equal);
    } else {
        tied = std::partition(first, last, above);
        tied_end = std::partition(tied, last, equal);
    }
    // Of the tied items, those with the lowest ids fill the places up to count.
    if (tied_end - tied > 1) std::nth_element(tied, nth, tied_end, better);
    std::sort(first, nth + 1, better);
}

std::vector<CoVisited> CoVisitation::top_neighbours(const std::vector<std::string>& items, size_t n,
                                                    const std::function<bool(const std::string&)>& keep,
                                                    double penalty) const {
    std::vector<CoVisited> out;
    for (const auto& found : top_neighbour_numbers(items, n, [&](int x) { return keep(ids_[static_cast<size_t>(x)]); }, penalty))
        out.push_back({ids_[static_cast<size_t>(found.first)], found.second});
    return out;
}

std::vector<std::pair<int, double>> CoVisitation::top_neighbour_numbers(const std::vector<std::string>& items, size_t n,
                                                                        const std::function<bool(int)>& keep,
                                                                        double penalty) const {
    if (!(penalty >= 0.0 && penalty <= 1.0)) throw_invalid("covis_penalty must be between 0 and 1");
    sums_.resize(ids_.size(), 0.0);
    std::vector<int> sources, touched;
    // Zeroes the sums again however this ends.
    struct Clear {
        std::vector<double>& sums;
        const std::vector<int>& touched;
        ~Clear() {
            for (int t : touched) sums[static_cast<size_t>(t)] = 0.0;
        }
    } clear{sums_, touched};
    for (const std::string& id : items) {
        int x = find(id);
        if (x >= 0 && std::find(sources.begin(), sources.end(), x) == sources.end()) sources.push_back(x);
    }
    for (int x : sources)
        for (const Neighbour& nb : lists_[static_cast<size_t>(x)]) {
            double& sum = sums_[static_cast<size_t>(nb.item)];
            if (sum == 0.0) touched.push_back(nb.item);
            sum += nb.pairs;
        }
    if (penalised_totals_.size() != ids_.size() || penalised_power_ != penalty) {
        penalised_totals_.assign(ids_.size(), std::numeric_limits<double>::quiet_NaN());
        penalised_power_ = penalty;
    }
    std::vector<std::pair<double, int>> scored;
    scored.reserve(touched.size());
    for (int t : touched) {
        double sum = sums_[static_cast<size_t>(t)];
        if (penalty > 0.0) {
            double& penalised = penalised_totals_[static_cast<size_t>(t)];
            if (std::isnan(penalised)) penalised = std::pow(totals_[static_cast<size_t>(t)], penalty);
            sum /= penalised;
        }
        scored.emplace_back(sum, t);
    }
    auto better = [this](const std::pair<double, int>& a, const std::pair<double, int>& b) {
        if (a.first != b.first) return a.first > b.first;
        size_t x = static_cast<size_t>(a.second), y = static_cast<size_t>(b.second);
        return id_before(keys_[x], ids_[x], keys_[y], ids_[y]);
    };
    // Order only as much of the list as the kept results need: what is missing and an eighth more
    // (keep rejects a few: unavailable items), then the next block, and so on.
    std::vector<std::pair<int, double>> out;
    for (size_t start = 0; start < scored.size() && out.size() < n;) {
        size_t missing = n - out.size();
        size_t end = std::min(scored.size(), start + missing + std::max<size_t>(missing / 8, 16));
        auto first = scored.begin() + static_cast<long>(start), last = scored.begin() + static_cast<long>(end);
        select_best(first, scored.end(), end - start, better);
        for (; first != last && out.size() < n; ++first)
            if (keep(first->second)) out.emplace_back(first->second, first->first);
        start = end;
    }
    return out;
}

}  // namespace recsys

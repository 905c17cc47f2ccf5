// The candidate pool of a ranking request (see candidates.hpp).
#include "core/candidates.hpp"

#include <algorithm>

namespace recsys {

CandidatePool::CandidatePool(std::function<int(const std::string&)> slot_of) : slot_of_(std::move(slot_of)) {}

void CandidatePool::add(const std::string& item_id, uint32_t source, double covisitation, int slot) {
    if (slot < 0 && slot_of_) slot = slot_of_(item_id);
    int key = slot_of_ ? slot : -1;  // without a resolver every item is pooled by id
    size_t next = items_.size();
    size_t at = key >= 0 ? by_slot_.emplace(key, next) : by_id_.try_emplace(item_id, next).first->second;
    if (at == next) items_.push_back({item_id, 0, NAN, 0, -1});
    PooledItem& item = items_[at];
    item.sources |= source;
    if (slot >= 0) item.slot = slot;
    if (!std::isnan(covisitation) && (std::isnan(item.covisitation) || covisitation > item.covisitation))
        item.covisitation = covisitation;
}

PooledItem* CandidatePool::find(const std::string& item_id, int slot) {
    if (slot >= 0) {
        const size_t* found = by_slot_.find(slot);
        return found == nullptr ? nullptr : &items_[*found];
    }
    auto found = by_id_.find(item_id);
    return found == by_id_.end() ? nullptr : &items_[found->second];
}

void CandidatePool::flag(const std::vector<std::string>& item_ids, uint32_t flag) {
    for (const std::string& id : item_ids)
        if (PooledItem* item = find(id, slot_of_ ? slot_of_(id) : -1)) item->flags |= flag;
}

// The first 8 bytes of an id as a big-endian number (zero-padded): numbers compare as the ids'
// prefixes do.
static uint64_t prefix_key(const std::string& id) {
    uint64_t key = 0;
    for (size_t i = 0; i < 8; ++i) key = key << 8 | (i < id.size() ? static_cast<unsigned char>(id[i]) : 0u);
    return key;
}

std::vector<PooledItem> CandidatePool::sorted() const {
    // (prefix key, position) pairs are sorted rather than the items themselves: most comparisons
    // are settled by the key, and only equal keys compare the strings.
    std::vector<std::pair<uint64_t, uint32_t>> order(items_.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = {prefix_key(items_[i].item_id), static_cast<uint32_t>(i)};
    std::sort(order.begin(), order.end(), [this](const auto& a, const auto& b) {
        return a.first != b.first ? a.first < b.first : items_[a.second].item_id < items_[b.second].item_id;
    });
    std::vector<PooledItem> out;
    out.reserve(items_.size());
    for (const auto& entry : order) out.push_back(items_[entry.second]);
    return out;
}

}  // namespace recsys

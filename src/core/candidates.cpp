// The candidate pool of a ranking request (see candidates.hpp).
#include "core/candidates.hpp"

#include <algorithm>

#include "core/id_key.hpp"

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

void CandidatePool::flag(const std::vector<std::string>& item_ids, uint32_t flag, const std::vector<int>* slots) {
    for (size_t i = 0; i < item_ids.size(); ++i) {
        const std::string& id = item_ids[i];
        int slot = !slot_of_ ? -1 : slots != nullptr ? (*slots)[i] : slot_of_(id);
        if (PooledItem* item = find(id, slot)) item->flags |= flag;
    }
}

std::vector<PooledItem> CandidatePool::take_sorted() {
    // (key, position) pairs are sorted rather than the items themselves: most comparisons are
    // settled by the key (see id_key.hpp).
    std::vector<std::pair<IdKey, uint32_t>> order(items_.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = {id_key(items_[i].item_id), static_cast<uint32_t>(i)};
    std::sort(order.begin(), order.end(), [this](const auto& a, const auto& b) {
        return id_before(a.first, items_[a.second].item_id, b.first, items_[b.second].item_id);
    });
    std::vector<PooledItem> out;
    out.reserve(items_.size());
    for (const auto& entry : order) out.push_back(std::move(items_[entry.second]));
    items_.clear();
    by_slot_ = IntMap<size_t>();
    by_id_.clear();
    return out;
}

}  // namespace recsys

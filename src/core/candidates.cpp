// The candidate pool of a ranking request (see candidates.hpp).
#include "core/candidates.hpp"

#include <algorithm>

namespace recsys {

void CandidatePool::add(const std::string& item_id, uint32_t source, double covisitation, int slot) {
    if (index_.empty()) index_.reserve(4096);
    auto found = index_.try_emplace(item_id, items_.size());  // no node allocated for a known id
    if (found.second) items_.push_back({item_id, 0, NAN, 0, -1});
    PooledItem& item = items_[found.first->second];
    item.sources |= source;
    if (slot >= 0) item.slot = slot;
    if (!std::isnan(covisitation) && (std::isnan(item.covisitation) || covisitation > item.covisitation))
        item.covisitation = covisitation;
}

void CandidatePool::flag(const std::vector<std::string>& item_ids, uint32_t flag) {
    for (const std::string& id : item_ids) {
        auto found = index_.find(id);
        if (found != index_.end()) items_[found->second].flags |= flag;
    }
}

std::vector<PooledItem> CandidatePool::sorted() const {
    std::vector<PooledItem> out = items_;
    std::sort(out.begin(), out.end(), [](const PooledItem& a, const PooledItem& b) { return a.item_id < b.item_id; });
    return out;
}

}  // namespace recsys

// A map from non-negative int keys (catalogue slots, attribute tokens) to values by open
// addressing: linear probing, at most half full, one allocation instead of a node per key. For
// the small per-request tables of the serving path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace recsys {

template <typename Value>
class IntMap {
public:
    // Room for `expected` keys before the table grows.
    explicit IntMap(size_t expected = 8) {
        size_t size = 16;
        while (size < 2 * expected) size *= 2;
        entries_.assign(size, Entry{});
    }

    // The value of `key` (>= 0), inserted as `value` when absent.
    Value& emplace(int key, const Value& value) {
        if (2 * (count_ + 1) > entries_.size()) grow();
        Entry& e = entries_[probe(key)];
        if (e.key < 0) {
            e = {key, value};
            ++count_;
        }
        return e.value;
    }

    // How many keys it holds.
    size_t size() const { return count_; }

    // The value of `key`, nullptr when absent.
    const Value* find(int key) const {
        const Entry& e = entries_[probe(key)];
        return e.key == key ? &e.value : nullptr;
    }

private:
    struct Entry {
        int key = -1;  // -1: empty
        Value value{};
    };

    // The entry holding `key`, or the empty one where it would go.
    size_t probe(int key) const {
        size_t mask = entries_.size() - 1;
        size_t at = static_cast<size_t>(static_cast<uint64_t>(static_cast<uint32_t>(key)) * 0x9E3779B97F4A7C15ULL >> 32) & mask;
        while (entries_[at].key != -1 && entries_[at].key != key) at = (at + 1) & mask;
        return at;
    }

    void grow() {
        std::vector<Entry> old = std::move(entries_);
        entries_.assign(old.size() * 2, Entry{});
        for (const Entry& e : old)
            if (e.key >= 0) entries_[probe(e.key)] = e;
    }

    std::vector<Entry> entries_;
    size_t count_ = 0;
};

}  // namespace recsys

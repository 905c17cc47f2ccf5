// Item ids in byte order without string compares, mostly: the first 16 bytes of an id as two
// big-endian numbers (zero-padded; ids never contain a zero byte) compare as those bytes do, and
// only ids that share all 16 need their strings compared.
#pragma once

#include <cstdint>
#include <string>

namespace recsys {

struct IdKey {
    uint64_t high = 0;
    uint64_t low = 0;
};

// The key of an id.
inline IdKey id_key(const std::string& id) {
    IdKey key;
    for (size_t i = 0; i < 16; ++i) {
        uint64_t byte = i < id.size() ? static_cast<unsigned char>(id[i]) : 0u;
        (i < 8 ? key.high : key.low) = (i < 8 ? key.high : key.low) << 8 | byte;
    }
    return key;
}

// Whether id a (with key ka) comes before id b (with key kb) in byte order.
inline bool id_before(const IdKey& ka, const std::string& a, const IdKey& kb, const std::string& b) {
    if (ka.high != kb.high) return ka.high < kb.high;
    if (ka.low != kb.low) return ka.low < kb.low;
    return a < b;
}

}  // namespace recsys

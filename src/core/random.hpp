// Counter-based random numbers: every value is a pure function of (seed, stream, index),
// so generators can produce any row independently and deterministically.
#pragma once

#include <cmath>
#include <cstdint>

namespace recsys {

// SplitMix64 finaliser: a fast, well-mixed 64-bit hash.
inline uint64_t mix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

// A deterministic stream of random numbers keyed by (seed, stream, index).
class CounterRng {
public:
    CounterRng(uint64_t seed, uint64_t stream, uint64_t index)
        : state_(mix64(mix64(seed ^ 0xA0761D6478BD642FULL) ^ mix64(stream + 0x51ED27ULL) ^ mix64(index))) {}

    // Next raw 64-bit value.
    uint64_t next() { return mix64(state_++); }

    // Uniform double in [0, 1).
    double uniform() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }

    // Uniform integer in [0, n) for n > 0.
    uint64_t below(uint64_t n) { return static_cast<uint64_t>(uniform() * static_cast<double>(n)); }

    // Standard normal variate (Box-Muller).
    double gaussian() {
        double u1 = uniform();
        double u2 = uniform();
        if (u1 < 1e-300) u1 = 1e-300;
        return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
    }

    // Rank in [0, n) with probability roughly proportional to 1 / (rank + 1) (Zipf, s = 1).
    uint64_t zipf_rank(uint64_t n) {
        double r = std::exp(uniform() * std::log(static_cast<double>(n) + 1.0)) - 1.0;
        uint64_t rank = static_cast<uint64_t>(r);
        return rank < n ? rank : n - 1;
    }

private:
    uint64_t state_;
};

}  // namespace recsys

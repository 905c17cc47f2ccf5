// Exponentially decayed scores kept in log2 space.
//
// A decayed sum S(T) = sum_i w_i * 2^((ts_i - T) / h) is stored as L = log2(sum_i w_i * 2^((ts_i - E) / h))
// for a fixed epoch E, so adding an event is O(1) and S(T) = 2^(L - (T - E) / h). Working in log
// space never overflows, however far ts is from E.
#pragma once

#include <cmath>

namespace recsys {

// log2(2^a + 2^b), computed without overflow; infinities behave as zero weights.
inline double log2_add(double a, double b) {
    if (std::isinf(a) && a < 0) return b;
    if (std::isinf(b) && b < 0) return a;
    double high = a > b ? a : b;
    double low = a > b ? b : a;
    return high + std::log2(1.0 + std::exp2(low - high));
}

// The log2 contribution of one event of weight w (> 0) at `days` after the epoch.
inline double log2_event(double weight, double days, double half_life_days) {
    return std::log2(weight) + days / half_life_days;
}

}  // namespace recsys

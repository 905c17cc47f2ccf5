// Dot products of float vectors on the serving path (the pipeline's similarity to the user, MMR's
// pairwise similarity): AVX2 with FMA when the CPU has it, else Eigen's (SSE2). The two sum in a
// different order, so results may differ in the last bits between machines, never on one.
#pragma once

#include <cstddef>

namespace recsys {

// The dot product of n floats; the portable and the AVX2+FMA kernel (valid only where
// avx2_fma_available()), and the one this CPU uses.
float float_dot_portable(const float* a, const float* b, size_t n);
float float_dot_avx2(const float* a, const float* b, size_t n);
bool avx2_fma_available();
float float_dot(const float* a, const float* b, size_t n);

}  // namespace recsys

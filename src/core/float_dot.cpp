// Float dot products (see float_dot.hpp).
#include "core/float_dot.hpp"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "core/eigen.hpp"

namespace recsys {

float float_dot_portable(const float* a, const float* b, size_t n) {
    using ConstVector = Eigen::Map<const Eigen::VectorXf>;
    return ConstVector(a, static_cast<long>(n)).dot(ConstVector(b, static_cast<long>(n)));
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) float float_dot_avx2(const float* a, const float* b, size_t n) {
    size_t i = 0;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    for (; i + 16 <= n; i += 16) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
    }
    for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    __m256 acc = _mm256_add_ps(acc0, acc1);
    __m128 half = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    float lanes[4];
    _mm_storeu_ps(lanes, half);
    float sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
    for (; i < n; ++i) sum += a[i] * b[i];
    return sum;
}

bool avx2_fma_available() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
#else
float float_dot_avx2(const float* a, const float* b, size_t n) { return float_dot_portable(a, b, n); }
bool avx2_fma_available() { return false; }
#endif

float float_dot(const float* a, const float* b, size_t n) {
    static const auto kernel = avx2_fma_available() ? float_dot_avx2 : float_dot_portable;
    return kernel(a, b, n);
}

}  // namespace recsys

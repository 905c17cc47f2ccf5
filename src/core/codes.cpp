// int8 codes and their dot products (see codes.hpp).
#include "core/codes.hpp"

#include <algorithm>
#include <cmath>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace recsys {

float encode(const float* v, size_t n, int8_t* codes) {
    float largest = 0.0f;
    for (size_t i = 0; i < n; ++i) largest = std::max(largest, std::fabs(v[i]));
    float scale = largest > 0.0f ? 127.0f / largest : 0.0f;
    for (size_t i = 0; i < n; ++i) codes[i] = static_cast<int8_t>(std::lround(v[i] * scale));
    return scale;
}

// The scalar tail of both kernels.
static int32_t code_dot_tail(const int8_t* a, const int16_t* b, size_t from, size_t n) {
    int32_t sum = 0;
    for (size_t i = from; i < n; ++i) sum += static_cast<int32_t>(a[i]) * b[i];
    return sum;
}

int32_t code_dot_sse2(const int8_t* a, const int16_t* b, size_t n) {
    size_t i = 0;
    int32_t sum = 0;
#if defined(__x86_64__)
    __m128i acc = _mm_setzero_si128();
    for (; i + 16 <= n; i += 16) {
        __m128i va = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i));
        // Sign-extend to 16 bits (each byte doubled, then shifted right arithmetically).
        __m128i low = _mm_srai_epi16(_mm_unpacklo_epi8(va, va), 8), high = _mm_srai_epi16(_mm_unpackhi_epi8(va, va), 8);
        acc = _mm_add_epi32(acc, _mm_madd_epi16(low, _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i))));
        acc = _mm_add_epi32(acc, _mm_madd_epi16(high, _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i + 8))));
    }
    int32_t lanes[4];
    _mm_storeu_si128(reinterpret_cast<__m128i*>(lanes), acc);
    sum = lanes[0] + lanes[1] + lanes[2] + lanes[3];
#endif
    return sum + code_dot_tail(a, b, i, n);
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) int32_t code_dot_avx2(const int8_t* a, const int16_t* b, size_t n) {
    size_t i = 0;
    __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
    for (; i + 32 <= n; i += 32) {
        __m256i a0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i)));
        __m256i a1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i + 16)));
        acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(a0, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + i))));
        acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(a1, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + i + 16))));
    }
    __m256i acc = _mm256_add_epi32(acc0, acc1);
    __m128i half = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    int32_t lanes[4];
    _mm_storeu_si128(reinterpret_cast<__m128i*>(lanes), half);
    return lanes[0] + lanes[1] + lanes[2] + lanes[3] + code_dot_tail(a, b, i, n);
}

bool avx2_available() { return __builtin_cpu_supports("avx2"); }
#else
int32_t code_dot_avx2(const int8_t* a, const int16_t* b, size_t n) { return code_dot_sse2(a, b, n); }
bool avx2_available() { return false; }
#endif

QueryCodes::QueryCodes(const float* v, size_t n)
    : wide_((n + 15) / 16 * 16, 0), n_(n), kernel_(avx2_available() ? code_dot_avx2 : code_dot_sse2) {
    std::vector<int8_t> codes(n);
    scale_ = encode(v, n, codes.data());
    std::copy(codes.begin(), codes.end(), wide_.begin());
}

double QueryCodes::norm() const {
    if (!(scale_ > 0.0f)) return 0.0;
    double sum = 0.0;
    for (int16_t c : wide_) sum += static_cast<double>(c) * c;
    return std::sqrt(sum) / scale_;
}

}  // namespace recsys

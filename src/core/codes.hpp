// int8 codes of float vectors for fast approximate scoring: a vector scaled so that its largest
// component is 127 and rounded. The catalogue scans embeddings and ALS factors through them to
// choose items (scored exactly afterwards where asked). Dot products use AVX2 when the CPU has
// it, else SSE2.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace recsys {

// `v` as int8 codes (v * scale, rounded) into `codes`; returns scale, 127 / max |v| (0 for zero).
float encode(const float* v, size_t n, int8_t* codes);

// The integer dot product of n codes with n 16-bit values: the portable kernel, and the AVX2 one
// (valid only where avx2_available()).
int32_t code_dot_sse2(const int8_t* a, const int16_t* b, size_t n);
int32_t code_dot_avx2(const int8_t* a, const int16_t* b, size_t n);
bool avx2_available();

// A query's codes widened to 16 bits once, for many dot products with item codes.
class QueryCodes {
public:
    QueryCodes(const float* v, size_t n);
    // Dot product of the query's codes with n item codes, divided by both scales (approximately
    // the float dot product); 0 for a zero query.
    float dot(const int8_t* codes, float code_scale) const {
        return scale_ > 0.0f ? static_cast<float>(kernel_(codes, wide_.data(), n_)) / (scale_ * code_scale) : 0.0f;
    }

    // The length of the vector the query's codes stand for (|codes| / scale; 0 for a zero query).
    double norm() const;

private:
    std::vector<int16_t> wide_;  // padded with zeros to a multiple of 16
    size_t n_;
    float scale_;
    int32_t (*kernel_)(const int8_t*, const int16_t*, size_t);  // AVX2 where the CPU has it
};

}  // namespace recsys

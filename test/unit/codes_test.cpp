// Unit tests of the int8 codes: encoding, both dot-product kernels against the plain sum, and
// the query-side scaling back to an approximate float dot product.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/codes.hpp"
#include "core/random.hpp"

namespace {

// The plain integer dot product the kernels must equal.
int32_t reference_dot(const std::vector<int8_t>& a, const std::vector<int16_t>& b) {
    int32_t sum = 0;
    for (size_t i = 0; i < a.size(); ++i) sum += static_cast<int32_t>(a[i]) * b[i];
    return sum;
}

TEST(Codes, EncodeScalesTheLargestComponentTo127) {
    std::vector<float> v = {0.5f, -1.0f, 0.25f, 0.0f};
    std::vector<int8_t> codes(v.size());
    float scale = recsys::encode(v.data(), v.size(), codes.data());
    EXPECT_FLOAT_EQ(scale, 127.0f);
    EXPECT_EQ(codes, (std::vector<int8_t>{64, -127, 32, 0}));
    std::vector<float> zero(3, 0.0f);
    std::vector<int8_t> zero_codes(3, 1);
    EXPECT_EQ(recsys::encode(zero.data(), zero.size(), zero_codes.data()), 0.0f);
    EXPECT_EQ(zero_codes, (std::vector<int8_t>{0, 0, 0}));
}

TEST(Codes, KernelsEqualThePlainSumForEveryLength) {
    recsys::CounterRng random(11, 0, 0);
    // Lengths around the 16- and 32-wide steps, and the extremes of both types.
    for (size_t n : {0u, 1u, 15u, 16u, 17u, 31u, 32u, 33u, 64u, 100u, 384u, 385u}) {
        std::vector<int8_t> a(n);
        std::vector<int16_t> b(n);
        for (size_t i = 0; i < n; ++i) {
            a[i] = static_cast<int8_t>(static_cast<int>(random.uniform() * 255.0) - 127);
            b[i] = static_cast<int16_t>(static_cast<int>(random.uniform() * 255.0) - 127);
        }
        if (n > 0) {
            a[0] = -128;
            b[0] = -127;
        }
        EXPECT_EQ(recsys::code_dot_sse2(a.data(), b.data(), n), reference_dot(a, b)) << "n " << n;
        if (recsys::avx2_available())
            EXPECT_EQ(recsys::code_dot_avx2(a.data(), b.data(), n), reference_dot(a, b)) << "n " << n;
    }
}

TEST(Codes, QueryDotApproximatesTheFloatDotProduct) {
    recsys::CounterRng random(5, 0, 0);
    size_t n = 384;
    for (int trial = 0; trial < 20; ++trial) {
        std::vector<float> q(n), x(n);
        for (size_t i = 0; i < n; ++i) {
            q[i] = static_cast<float>(random.uniform() - 0.5);
            x[i] = static_cast<float>(random.uniform() - 0.5);
        }
        double exact = 0.0, norm_q = 0.0, norm_x = 0.0;
        for (size_t i = 0; i < n; ++i) {
            exact += static_cast<double>(q[i]) * x[i];
            norm_q += static_cast<double>(q[i]) * q[i];
            norm_x += static_cast<double>(x[i]) * x[i];
        }
        std::vector<int8_t> codes(n);
        float scale = recsys::encode(x.data(), n, codes.data());
        recsys::QueryCodes query(q.data(), n);
        // Rounding to 1/254 of the largest component: well within 1% of |q| |x|.
        EXPECT_NEAR(query.dot(codes.data(), scale), exact, 0.01 * std::sqrt(norm_q * norm_x)) << "trial " << trial;
    }
    std::vector<float> zero(n, 0.0f), x(n, 0.5f);
    std::vector<int8_t> codes(n);
    float scale = recsys::encode(x.data(), n, codes.data());
    EXPECT_EQ(recsys::QueryCodes(zero.data(), n).dot(codes.data(), scale), 0.0f);
}

}  // namespace

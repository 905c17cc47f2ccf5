// Unit tests of the float dot product kernels: both equal the plain sum within float rounding,
// for every length around the vector widths.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/float_dot.hpp"
#include "core/random.hpp"

TEST(FloatDot, KernelsEqualThePlainSum) {
    recsys::CounterRng rng(11, 0, 0);
    for (size_t n : {0u, 1u, 7u, 8u, 9u, 15u, 16u, 17u, 31u, 64u, 383u, 384u}) {
        std::vector<float> a(n), b(n);
        double plain = 0.0, magnitude = 0.0;
        for (size_t i = 0; i < n; ++i) {
            a[i] = static_cast<float>(rng.gaussian());
            b[i] = static_cast<float>(rng.gaussian());
            plain += static_cast<double>(a[i]) * b[i];
            magnitude += std::fabs(static_cast<double>(a[i]) * b[i]);
        }
        double tolerance = 1e-6 * (magnitude + 1.0);
        EXPECT_NEAR(recsys::float_dot_portable(a.data(), b.data(), n), plain, tolerance) << n;
        EXPECT_NEAR(recsys::float_dot(a.data(), b.data(), n), plain, tolerance) << n;
        if (recsys::avx2_fma_available())
            EXPECT_NEAR(recsys::float_dot_avx2(a.data(), b.data(), n), plain, tolerance) << n;
    }
}

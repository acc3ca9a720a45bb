// Branch-free math the compiler can vectorize (libm's exp is a call per element, which stops a
// loop from vectorizing; glibc's vector exp is only used under -ffast-math).
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>

#if defined(__GNUC__)
#define TC_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define TC_ALWAYS_INLINE inline
#endif

namespace tc {

template <typename T>
struct ExpConstants;

// Cody-Waite split of ln 2 (hi has few enough bits that n * hi is exact), rounding magic
// 1.5 * 2^mantissa_bits, and the range outside which exp under/overflows.
template <>
struct ExpConstants<float> {
    using Bits = uint32_t;
    static constexpr int kMantissa = 23, kBias = 127, kDegree = 7;
    static constexpr float kLog2e = 1.44269504088896341f, kLn2Hi = 0.693359375f,
                           kLn2Lo = -2.12194440e-4f, kMagic = 12582912.0f, kLo = -87.3365f,
                           kHi = 88.7228f;
};
template <>
struct ExpConstants<double> {
    using Bits = uint64_t;
    static constexpr int kMantissa = 52, kBias = 1023, kDegree = 13;
    static constexpr double kLog2e = 1.4426950408889634074, kLn2Hi = 6.93145751953125e-1,
                            kLn2Lo = 1.42860682030941723212e-6, kMagic = 6755399441055744.0,
                            kLo = -708.39, kHi = 709.78;
};

// v[i] = 1 / i!, the Taylor coefficients of exp (i! is exact in T for the degrees used).
template <typename T, int D>
struct InverseFactorials {
    T v[D + 1] = {};
    constexpr InverseFactorials() {
        T f = 1;
        for (int i = 0; i <= D; ++i) {
            v[i] = T(1) / f;
            f *= T(i + 1);
        }
    }
};

// exp(x) to ~2 ulp: x = n ln2 + r with |r| <= ln2/2, exp(r) by its Taylor series to degree 7
// (float32; truncation 5e-9 relative) or 13 (float64; 4e-18), times 2^n built in the exponent
// bits. Results that would be subnormal flush to 0 (x < kLo); NaN stays NaN, -inf gives 0, +inf
// gives inf. Integer work is done on unsigned bit patterns: no float-to-int conversion of
// out-of-range values, hence no undefined behaviour for any input.
template <typename T>
TC_ALWAYS_INLINE T exp_vec(T x) {
    using C = ExpConstants<T>;
    using U = typename C::Bits;
    const T t = x * C::kLog2e + C::kMagic;  // round-to-nearest(x log2 e) lands in t's low bits
    const T n = t - C::kMagic;
    const T r = (x - n * C::kLn2Hi) - n * C::kLn2Lo;
    static constexpr InverseFactorials<T, C::kDegree> c{};
    T p = c.v[C::kDegree];
    for (int i = C::kDegree - 1; i >= 0; --i) p = p * r + c.v[i];  // Horner
    U tb, mb;
    std::memcpy(&tb, &t, sizeof(T));
    const T magic = C::kMagic;
    std::memcpy(&mb, &magic, sizeof(T));
    const U scale_bits = (tb - mb + static_cast<U>(C::kBias)) << C::kMantissa;
    T scale;
    std::memcpy(&scale, &scale_bits, sizeof(T));
    T y = p * scale;
    y = x < C::kLo ? T(0) : y;
    y = x > C::kHi ? std::numeric_limits<T>::infinity() : y;
    return y;
}

}  // namespace tc

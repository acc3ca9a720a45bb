// Matmul micro-kernels: the register-blocked inner loop of the packed matmul (csrc/matmul.cpp).
//
// A micro-kernel computes one MR x NR tile of C from two packed micro-panels:
//   a: MR x kc, k-major (a[p*MR + i] = A[i][p])      b: kc x NR, k-major (b[p*NR + j] = B[p][j])
// and writes C = tile (accumulate == false, the first kc block) or C += tile (later blocks), only
// the mr x nr valid corner (edges of the matrix). The panels are zero-padded to whole MR / NR, so
// the k loop never branches.
//
// Cost per k step: NR/W vector loads of b, MR broadcasts of a, MR*NR/W vector FMAs (W = lanes).
// Per call that is kc*(MR + NR)*sizeof(T) bytes read from the packed panels for 2*MR*NR*kc flops;
// the C tile (MR*NR values) is read and written once. The accumulators need MR*NR/W registers,
// plus NR/W for the b row and one for the broadcast: the tile shapes below fill the register file
// (AVX2: 6x2 = 12 of 16 ymm; AVX-512: 14x2 = 28 of 32 zmm) so that enough independent FMAs are in
// flight to cover the FMA latency (4-5 cycles x 2 FMA pipes needs >= 8-10 accumulators).
//
// Every kernel also states its cache blocking (see csrc/matmul.cpp for the loop nest):
//   KC  depth of one packed block: the b micro-panel (KC*NR*sizeof(T)) stays in L1 while the a
//       micro-panels of the A block stream past it;
//   MC  rows of the packed A block (MC*KC*sizeof(T)), which stays in L2;
//   NC  columns of the packed B block (KC*NC*sizeof(T)), shared by all threads, in L3.
//
// Three kernel families: Generic (GCC vector extensions at the baseline width, or scalars -- builds
// anywhere), Avx2 (AVX2 + FMA intrinsics) and Avx512 (AVX-512F intrinsics). The x86 ones are
// compiled with __attribute__((target)) for their ISA only; they are called only after
// tc::cpu_features() confirmed it, and never inlined into baseline code.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "cpu_features.h"

#if TC_X86_DISPATCH
#include <immintrin.h>
#endif

namespace tc {
namespace kernels {

// Writes the mr x nr corner of a row-major MR x NR tile to C (row stride ldc).
template <typename T, int64_t MR, int64_t NR>
inline void store_tile(const T* tile, T* c, int64_t ldc, int64_t mr, int64_t nr, bool accumulate) {
    for (int64_t i = 0; i < mr; ++i) {
        T* ci = c + i * ldc;
        const T* ti = tile + i * NR;
        if (accumulate) {
            for (int64_t j = 0; j < nr; ++j) ci[j] += ti[j];
        } else {
            for (int64_t j = 0; j < nr; ++j) ci[j] = ti[j];
        }
    }
}

// ------------------------------------------------------------------------------------ generic

// The vector width of the build's baseline ISA (SSE2 on x86-64: 16 bytes, 16 registers; a
// TENSORCORE_NATIVE_ARCH=1 build may see AVX or AVX-512 and gets proportionally larger tiles).
#if defined(__AVX512F__)
constexpr int64_t kBaseVecBytes = 64;
constexpr int64_t kBaseVecRegs = 32;
#elif defined(__AVX__)
constexpr int64_t kBaseVecBytes = 32;
constexpr int64_t kBaseVecRegs = 16;
#else
constexpr int64_t kBaseVecBytes = 16;
constexpr int64_t kBaseVecRegs = 16;
#endif

template <typename T>
struct Generic {
    static constexpr const char* name = "packed";
    // NR: two vectors per row; MR: 6 rows -> 12 accumulators + 2 b vectors + 1 broadcast = 15 of
    // 16 registers (14 rows -> 31 of 32 with AVX-512).
    static constexpr int64_t NR = 2 * kBaseVecBytes / static_cast<int64_t>(sizeof(T));
    static constexpr int64_t MR = kBaseVecRegs == 32 ? 14 : 6;
    static constexpr int64_t KC = 256;     // b micro-panel: 8 KiB (SSE2, either dtype)
    static constexpr int64_t MC = 16 * MR;  // A block: 96 KiB (float32) / 192 KiB (float64)
    static constexpr int64_t NC = 2048;     // B block: 2 MiB (float32) / 4 MiB (float64)

#if defined(__GNUC__)
    // GCC / Clang: the tile held explicitly as MR x (NR/W) vectors. Written as plain nested loops,
    // GCC's SLP vectorizer shuffles the float tile between registers instead of keeping it in
    // place (measured: 23 vs 60+ GFLOP/s on 2 SSE2 cores), so the vectors are spelled out.
    typedef T V __attribute__((vector_size(kBaseVecBytes)));

    static void run(int64_t kc, const T* __restrict a, const T* __restrict b, T* __restrict c,
                    int64_t ldc, int64_t mr, int64_t nr, bool accumulate) {
        constexpr int64_t W = kBaseVecBytes / static_cast<int64_t>(sizeof(T));
        constexpr int64_t NV = NR / W;
        V acc[MR][NV];
        for (int64_t i = 0; i < MR; ++i)
            for (int64_t v = 0; v < NV; ++v) acc[i][v] = V{};
        for (int64_t p = 0; p < kc; ++p) {
            V bv[NV];
            std::memcpy(bv, b + p * NR, sizeof(bv));
            const T* ap = a + p * MR;
            for (int64_t i = 0; i < MR; ++i) {
                const T ai = ap[i];
                for (int64_t v = 0; v < NV; ++v) acc[i][v] += ai * bv[v];
            }
        }
        T tile[MR * NR];
        std::memcpy(tile, acc, sizeof(tile));
        store_tile<T, MR, NR>(tile, c, ldc, mr, nr, accumulate);
    }
#else
    // Other compilers: the same tile as scalars; fixed MR and NR let the loops unroll/vectorize.
    static void run(int64_t kc, const T* __restrict a, const T* __restrict b, T* __restrict c,
                    int64_t ldc, int64_t mr, int64_t nr, bool accumulate) {
        T acc[MR * NR] = {};
        for (int64_t p = 0; p < kc; ++p) {
            const T* ap = a + p * MR;
            const T* bp = b + p * NR;
            for (int64_t i = 0; i < MR; ++i)
                for (int64_t j = 0; j < NR; ++j) acc[i * NR + j] += ap[i] * bp[j];
        }
        store_tile<T, MR, NR>(acc, c, ldc, mr, nr, accumulate);
    }
#endif
};

#if TC_X86_DISPATCH

// ------------------------------------------------------------------------------------ AVX2 + FMA

#define TC_AVX2 __attribute__((target("avx2,fma")))
#define TC_AVX2_INLINE __attribute__((target("avx2,fma"), always_inline)) inline

namespace avx2 {
// Overloads so one kernel template serves float (8 lanes) and double (4 lanes).
TC_AVX2_INLINE __m256 zero(float) { return _mm256_setzero_ps(); }
TC_AVX2_INLINE __m256d zero(double) { return _mm256_setzero_pd(); }
TC_AVX2_INLINE __m256 load(const float* p) { return _mm256_loadu_ps(p); }
TC_AVX2_INLINE __m256d load(const double* p) { return _mm256_loadu_pd(p); }
// set1 of a loaded value, not _mm256_broadcast_ss(p): GCC treats that builtin's pointer as
// escaping memory, and then keeps a stack copy of every accumulator updated in the k loop.
TC_AVX2_INLINE __m256 bcast(const float* p) { return _mm256_set1_ps(*p); }
TC_AVX2_INLINE __m256d bcast(const double* p) { return _mm256_set1_pd(*p); }
TC_AVX2_INLINE __m256 fma(__m256 a, __m256 b, __m256 c) { return _mm256_fmadd_ps(a, b, c); }
TC_AVX2_INLINE __m256d fma(__m256d a, __m256d b, __m256d c) { return _mm256_fmadd_pd(a, b, c); }
// Masked C access for the matrix edge (nr < NR): lanes outside the mask are neither read nor
// written, so nothing past the end of a row (or of C) is touched. The mask of the first `lanes`
// lanes is an all-ones integer in each of them.
TC_AVX2_INLINE __m256i lane_mask(float, int64_t lanes) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(lanes)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
TC_AVX2_INLINE __m256i lane_mask(double, int64_t lanes) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(lanes), _mm256_setr_epi64x(0, 1, 2, 3));
}
TC_AVX2_INLINE void store_masked(float* p, __m256 v, __m256i m, bool acc) {
    if (acc) v = _mm256_add_ps(v, _mm256_maskload_ps(p, m));
    _mm256_maskstore_ps(p, m, v);
}
TC_AVX2_INLINE void store_masked(double* p, __m256d v, __m256i m, bool acc) {
    if (acc) v = _mm256_add_pd(v, _mm256_maskload_pd(p, m));
    _mm256_maskstore_pd(p, m, v);
}
}  // namespace avx2

template <typename T>
struct Avx2 {
    static constexpr const char* name = "packed_avx2";
    static constexpr int64_t W = 32 / static_cast<int64_t>(sizeof(T));
    static constexpr int64_t NV = 2;
    static constexpr int64_t NR = NV * W;  // 16 float32 / 8 float64
    static constexpr int64_t MR = 6;       // 12 accumulators + 2 b + 1 broadcast = 15 of 16 ymm
    static constexpr int64_t KC = 256;     // b micro-panel: 16 KiB (float32) / 16 KiB (float64)
    static constexpr int64_t MC = 24 * MR; // A block: 144 KiB / 288 KiB
    static constexpr int64_t NC = 2048;    // B block: 2 MiB / 4 MiB

    TC_AVX2 static void run(int64_t kc, const T* __restrict a, const T* __restrict b,
                            T* __restrict c, int64_t ldc, int64_t mr, int64_t nr,
                            bool accumulate) {
        using V = decltype(avx2::zero(T()));
        V acc[MR][NV];
        for (int64_t i = 0; i < MR; ++i)
            for (int64_t v = 0; v < NV; ++v) acc[i][v] = avx2::zero(T());
        for (int64_t p = 0; p < kc; ++p) {
            V bv[NV];
            for (int64_t v = 0; v < NV; ++v) bv[v] = avx2::load(b + v * W);
            for (int64_t i = 0; i < MR; ++i) {
                const V ai = avx2::bcast(a + i);
                for (int64_t v = 0; v < NV; ++v) acc[i][v] = avx2::fma(ai, bv[v], acc[i][v]);
            }
            a += MR;
            b += NR;
        }
        // Loops over constant bounds with an `i < mr` guard (not `i < mr` bounds) so the tile
        // stays in registers: indexing acc[i] with a run-time i would force it onto the stack,
        // and GCC would then store all 12 accumulators on every k step.
        for (int64_t v = 0; v < NV; ++v) {
            const __m256i mask = avx2::lane_mask(T(), std::clamp<int64_t>(nr - v * W, 0, W));
            for (int64_t i = 0; i < MR; ++i)
                if (i < mr) avx2::store_masked(c + i * ldc + v * W, acc[i][v], mask, accumulate);
        }
    }
};

// ------------------------------------------------------------------------------------ AVX-512F

#define TC_AVX512 __attribute__((target("avx512f")))
#define TC_AVX512_INLINE __attribute__((target("avx512f"), always_inline)) inline

namespace avx512 {
TC_AVX512_INLINE __m512 zero(float) { return _mm512_setzero_ps(); }
TC_AVX512_INLINE __m512d zero(double) { return _mm512_setzero_pd(); }
TC_AVX512_INLINE __m512 load(const float* p) { return _mm512_loadu_ps(p); }
TC_AVX512_INLINE __m512d load(const double* p) { return _mm512_loadu_pd(p); }
TC_AVX512_INLINE __m512 bcast(const float* p) { return _mm512_set1_ps(*p); }
TC_AVX512_INLINE __m512d bcast(const double* p) { return _mm512_set1_pd(*p); }
TC_AVX512_INLINE __m512 fma(__m512 a, __m512 b, __m512 c) { return _mm512_fmadd_ps(a, b, c); }
TC_AVX512_INLINE __m512d fma(__m512d a, __m512d b, __m512d c) { return _mm512_fmadd_pd(a, b, c); }
// Masked C access, so the matrix edge (nr < NR) needs no scalar path: lanes outside the mask are
// neither read nor written (no fault past the end of C either).
TC_AVX512_INLINE void store_masked(float* p, __m512 v, unsigned m, bool acc) {
    const __mmask16 k = static_cast<__mmask16>(m);
    if (acc) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, p));
    _mm512_mask_storeu_ps(p, k, v);
}
TC_AVX512_INLINE void store_masked(double* p, __m512d v, unsigned m, bool acc) {
    const __mmask8 k = static_cast<__mmask8>(m);
    if (acc) v = _mm512_add_pd(v, _mm512_maskz_loadu_pd(k, p));
    _mm512_mask_storeu_pd(p, k, v);
}
}  // namespace avx512

template <typename T>
struct Avx512 {
    static constexpr const char* name = "packed_avx512";
    static constexpr int64_t W = 64 / static_cast<int64_t>(sizeof(T));
    static constexpr int64_t NV = 2;
    static constexpr int64_t NR = NV * W;  // 32 float32 / 16 float64
    static constexpr int64_t MR = 14;      // 28 accumulators + 2 b + 1 broadcast = 31 of 32 zmm
    static constexpr int64_t KC = 512;     // b micro-panel: 64 KiB, streamed from L2
    static constexpr int64_t MC = 24 * MR; // A block: 672 KiB (float32) in a 1 MiB L2 / 1.3 MiB (float64)
    static constexpr int64_t NC = 4096;    // B block: 8 MiB / 16 MiB, in L3; sizes measured on Zen 5 (1024-2048)

    TC_AVX512 static void run(int64_t kc, const T* __restrict a, const T* __restrict b,
                              T* __restrict c, int64_t ldc, int64_t mr, int64_t nr,
                              bool accumulate) {
        using V = decltype(avx512::zero(T()));
        V acc[MR][NV];
        for (int64_t i = 0; i < MR; ++i)
            for (int64_t v = 0; v < NV; ++v) acc[i][v] = avx512::zero(T());
        for (int64_t p = 0; p < kc; ++p) {
            V bv[NV];
            for (int64_t v = 0; v < NV; ++v) bv[v] = avx512::load(b + v * W);
            for (int64_t i = 0; i < MR; ++i) {
                const V ai = avx512::bcast(a + i);
                for (int64_t v = 0; v < NV; ++v) acc[i][v] = avx512::fma(ai, bv[v], acc[i][v]);
            }
            a += MR;
            b += NR;
        }
        for (int64_t v = 0; v < NV; ++v) {
            const int64_t lanes = std::clamp<int64_t>(nr - v * W, 0, W);
            const unsigned mask = (1u << lanes) - 1u;
            for (int64_t i = 0; i < MR; ++i)  // constant bound: see Avx2::run
                if (i < mr)
                    avx512::store_masked(c + i * ldc + v * W, acc[i][v], mask, accumulate);
        }
    }
};

#endif  // TC_X86_DISPATCH

}  // namespace kernels
}  // namespace tc

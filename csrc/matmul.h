// Matrix multiply on raw, C-contiguous buffers (no Python in here), in several named variants
// that a benchmark can run side by side -- the steps of the optimisation ladder, each kept:
//
//   naive          the textbook triple loop (i, j, p), rows split across threads
//   blocked        loop tiling for the caches, i-p-j inner order the compiler vectorizes; no packing
//   packed         BLIS-style: packed panels + register-blocked micro-kernel at the build's
//                  baseline vector width (SSE2 on x86-64), shared packed B across threads
//   packed_avx2    the same with an AVX2 + FMA micro-kernel (6 x 16 float32 tile)
//   packed_avx512  the same with an AVX-512F micro-kernel (14 x 32 float32 tile)
//
// best_matmul_variant() is the fastest one this CPU supports, picked at run time.
#pragma once

#include <cstdint>
#include <string>

namespace tc {

enum class MatmulVariant { Naive, Blocked, Packed, PackedAvx2, PackedAvx512 };

const char* variant_name(MatmulVariant v);
// False if `name` is not one of the names above.
bool variant_from_name(const std::string& name, MatmulVariant* out);
// Whether this build and CPU can run `v` (the AVX variants need x86 and the instructions).
bool variant_available(MatmulVariant v);
MatmulVariant best_matmul_variant();

// c[b] = a[b] @ b[b] for b in [0, batch): a is (batch, m, k), b is (batch, k, n), c is
// (batch, m, n), all C-contiguous and non-overlapping. c is fully overwritten (k == 0 gives
// zeros), so it may be uninitialised. The caller validates sizes and that `variant` is available;
// nothing here throws except std::bad_alloc for the packing buffers, raised before any thread
// starts. Uses up to tc::num_threads() OpenMP threads; safe to call without the GIL. Results do
// not depend on the thread count (each element's summation order is fixed by the blocking).
template <typename T>
void matmul_batched(const T* a, const T* b, T* c, int64_t batch, int64_t m, int64_t n, int64_t k,
                    MatmulVariant variant);

extern template void matmul_batched<float>(const float*, const float*, float*, int64_t, int64_t,
                                           int64_t, int64_t, MatmulVariant);
extern template void matmul_batched<double>(const double*, const double*, double*, int64_t,
                                            int64_t, int64_t, int64_t, MatmulVariant);

// ------------------------------------------------------------------------------------ gemm API
//
// The packed matmul for other C++ kernels (convolution, the LSTM cell): general leading
// dimensions, optional transposes and accumulation, always the fastest packed micro-kernel this
// CPU runs. No Python, no checks: callers validate sizes.
//
//   C = op(A) @ op(B)          (accumulate == false; C may be uninitialised)
//   C += op(A) @ op(B)         (accumulate == true)
//
// op(A) is m x k: element (i, p) at a[i*lda + p], or a[p*lda + i] when trans_a.
// op(B) is k x n: element (p, j) at b[p*ldb + j], or b[j*ldb + p] when trans_b.
// C is m x n: element (i, j) at c[i*ldc + j]. C must not overlap A or B.
// Each element's summation order depends only on the blocking (KC), never on the thread count.
template <typename T>
struct GemmArgs {
    int64_t m, n, k;
    const T* a;
    int64_t lda;
    bool trans_a;
    const T* b;
    int64_t ldb;
    bool trans_b;
    T* c;
    int64_t ldc;
    bool accumulate;
};

// Elements of scratch gemm_serial needs for an m x n x k product (64-byte aligned by the caller).
template <typename T>
int64_t gemm_scratch_size(int64_t m, int64_t n, int64_t k);

// On the calling thread only, with caller-provided scratch: no allocation, no exceptions, so it
// may run inside a parallel region (one call per thread, each with its own scratch).
template <typename T>
void gemm_serial(const GemmArgs<T>& g, T* scratch);

// On a team of up to min(max_threads, num_threads()) threads (fewer for small products), which
// share each packed B block; allocates its scratch first (std::bad_alloc on the calling thread).
// Call from outside any parallel region.
template <typename T>
void gemm(const GemmArgs<T>& g, int max_threads);

// Wholly packed operands, for a product whose A (or B) is reused across many calls -- a
// convolution's weights across the images of a batch -- or whose B is written straight into the
// packed layout (im2col into micro-panels). Layout for the fastest kernel (pack_layout):
//   A: for each K block pc (KC deep, the last one shorter), ceil(m/MR) micro-panels, each k-major
//      (panel[p*MR + i]); the block starts at pc * round_up(m, MR). Rows past m are zero.
//   B: for each K block, ceil(n/NR) micro-panels, panel[p*NR + j]; the block starts at
//      pc * round_up(n, NR). Columns past n are zero.
struct PackLayout {
    int64_t mr, nr, kc;
};

template <typename T>
PackLayout pack_layout();

// op(A) / op(B) as in GemmArgs; out holds round_up(m, MR) * k / round_up(n, NR) * k elements.
template <typename T>
void pack_a_full(const T* a, int64_t lda, bool trans, int64_t m, int64_t k, T* out);
template <typename T>
void pack_b_full(const T* b, int64_t ldb, bool trans, int64_t k, int64_t n, T* out);

// C (m x n, row stride ldc) = or += A @ B from wholly packed operands, on the calling thread (no
// allocation, no exceptions). Not blocked for L2 along M: for m up to a few hundred.
template <typename T>
void gemm_prepacked(int64_t m, int64_t n, int64_t k, const T* pa, const T* pb, T* c, int64_t ldc,
                    bool accumulate);

}  // namespace tc

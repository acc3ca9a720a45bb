// Matmul variants, C = A @ B. The fast path is BLIS-style (Goto's algorithm, as in BLIS and
// OpenBLAS); the simpler steps before it are kept as named variants for side-by-side benchmarks.
//
// Why blocking: a matmul does 2*M*N*K flops on M*K + K*N + M*N elements, so it is compute-bound
// only if every element brought in from memory is reused many times from a faster level. The
// packed loop nest gives each level of the memory hierarchy one job:
//
//   for jc in N step NC:                 B block  KC x NC  packed once, shared by all threads: L3
//     for pc in K step KC:
//       pack B[pc:pc+KC, jc:jc+NC]       (threads pack disjoint NR-column panels, then barrier)
//       for ic in M step MC:             A block  MC x KC  packed per thread:                   L2
//         pack A[ic:ic+MC, pc:pc+KC]
//         for jr in NC step NR:          B micro-panel  KC x NR: stays in L1 across the ir loop
//           for ir in MC step MR:        A micro-panel  MR x KC: streams from L2
//             micro-kernel: C[MR x NR] (+)= A micro-panel @ B micro-panel   (registers)
//
// Per micro-kernel call: 2*MR*NR*KC flops for (MR + NR)*KC loaded values, i.e. for the AVX-512
// float32 14 x 32 tile 28 FMAs per 2 vector loads + 14 broadcasts: the FMA pipes, not the load
// ports, bound it. Packing copies each block once into the exact order the micro-kernel reads it
// (unit stride, zero-padded to whole tiles, 64-byte aligned); it costs one read + write per element
// per block, i.e. 1/(2*MC) of the flops for B and 1/(2*NC) for A -- under 1% at these sizes.
//
// Parallelism (OpenMP): inside one (jc, pc) step the ic x jr space is cut into equal work items and
// each thread takes a contiguous run of them (packing each A block it needs once). Items cover
// disjoint parts of C, so no synchronisation is needed beyond the two barriers around the shared B
// pack. Many small matrices in a batch are instead spread whole across threads. The per-element
// summation order depends only on KC, so results are bitwise identical for any thread count.
#include "matmul.h"

#include <algorithm>
#include <cstddef>
#include <new>
#include <type_traits>

#include "buffer.h"
#include "cpu_features.h"
#include "matmul_kernels.h"
#include "parallel.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#include <xmmintrin.h>
#endif

namespace tc {
namespace {

constexpr int64_t ceil_div(int64_t x, int64_t y) { return (x + y - 1) / y; }
constexpr int64_t round_up(int64_t x, int64_t y) { return ceil_div(x, y) * y; }

// Threads worth using for `flops` of work split into at most `tasks` pieces: waking a thread and
// the barriers cost a few microseconds, so each thread should get at least ~1 Mflop.
int threads_for(double flops, int64_t tasks) {
    int threads = num_threads();
    if (flops < 1.0e6 * threads) threads = static_cast<int>(std::max(1.0, flops / 1.0e6));
    return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, tasks)));
}

inline void team_barrier(int nth) {
#ifdef _OPENMP
    if (nth > 1) {
#pragma omp barrier
    }
#else
    (void)nth;
#endif
}

// ------------------------------------------------------------------------------------ naive

// The definition, one dot product per output: B is walked down a column (stride n), so every
// load of B touches a new cache line once n*sizeof(T) exceeds a line -- the baseline to beat.
template <typename T>
void matmul_naive(const T* a, const T* b, T* c, int64_t batch, int64_t m, int64_t n, int64_t k) {
    const int64_t rows = batch * m;
    const int threads = threads_for(2.0 * rows * n * k, rows);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
#endif
    for (int64_t r = 0; r < rows; ++r) {
        const T* ar = a + r * k;
        const T* bb = b + (r / m) * k * n;
        T* cr = c + r * n;
        for (int64_t j = 0; j < n; ++j) {
            T s = 0;
            for (int64_t p = 0; p < k; ++p) s += ar[p] * bb[p * n + j];
            cr[j] = s;
        }
    }
}

// ------------------------------------------------------------------------------------ blocked

// Loop tiling without packing: each task owns an MB x NB tile of C (32 KiB float32, L1/L2) and
// walks K in KB steps so the KB x NB slice of B it re-reads for every row (256 KiB float32) stays
// in L2. The inner i-p-j order updates a row of C with a row of B (C[i, :] += A[i, p] * B[p, :]):
// unit stride, which the compiler vectorizes at the baseline width. Limits: B rows are NB apart in
// memory (TLB and prefetcher churn) and C is loaded and stored on every p (two memory operations
// per FMA) -- what packing and register blocking fix.
template <typename T>
void matmul_blocked(const T* a, const T* b, T* c, int64_t batch, int64_t m, int64_t n, int64_t k) {
    constexpr int64_t MB = 32, NB = 256, KB = 256;
    const int64_t m_tiles = ceil_div(m, MB), n_tiles = ceil_div(n, NB);
    const int64_t tasks = batch * m_tiles * n_tiles;
    const int threads = threads_for(2.0 * batch * m * n * k, tasks);
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic) num_threads(threads) if (threads > 1)
#endif
    for (int64_t t = 0; t < tasks; ++t) {
        const int64_t bi = t / (m_tiles * n_tiles);
        const int64_t i0 = (t / n_tiles) % m_tiles * MB, j0 = t % n_tiles * NB;
        const int64_t mb = std::min(MB, m - i0), nb = std::min(NB, n - j0);
        const T* ab = a + bi * m * k;
        const T* bb = b + bi * k * n;
        T* cb = c + bi * m * n;
        for (int64_t i = i0; i < i0 + mb; ++i) std::fill(cb + i * n + j0, cb + i * n + j0 + nb, T(0));
        for (int64_t p0 = 0; p0 < k; p0 += KB) {
            const int64_t p1 = std::min(k, p0 + KB);
            for (int64_t i = i0; i < i0 + mb; ++i) {
                T* ci = cb + i * n + j0;
                for (int64_t p = p0; p < p1; ++p) {
                    const T aip = ab[i * k + p];
                    const T* bp = bb + p * n + j0;
                    for (int64_t j = 0; j < nb; ++j) ci[j] += aip * bp[j];
                }
            }
        }
    }
}

// dst[c*ldd + r] = src[r*lds + c] for r < rows, c < cols: the transposing copy at the heart of
// packing an operand whose depth (k) runs along its rows. In 4x4 (float32) or 2x2 (float64)
// register tiles with SSE2 (the x86-64 baseline): whole vectors loaded and stored instead of one
// scalar move per element (measured ~3x faster), scalar loops at the edges.
template <typename T>
void transpose_copy(const T* src, int64_t lds, int64_t rows, int64_t cols, T* dst, int64_t ldd) {
    int64_t r = 0;
#if defined(__SSE2__)
    if constexpr (std::is_same_v<T, float>) {
        for (; r + 4 <= rows; r += 4) {
            const float* s = src + r * lds;
            int64_t c = 0;
            for (; c + 4 <= cols; c += 4) {
                __m128 r0 = _mm_loadu_ps(s + c), r1 = _mm_loadu_ps(s + lds + c);
                __m128 r2 = _mm_loadu_ps(s + 2 * lds + c), r3 = _mm_loadu_ps(s + 3 * lds + c);
                _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
                _mm_storeu_ps(dst + c * ldd + r, r0);
                _mm_storeu_ps(dst + (c + 1) * ldd + r, r1);
                _mm_storeu_ps(dst + (c + 2) * ldd + r, r2);
                _mm_storeu_ps(dst + (c + 3) * ldd + r, r3);
            }
            for (; c < cols; ++c)
                for (int64_t i = 0; i < 4; ++i) dst[c * ldd + r + i] = s[i * lds + c];
        }
    } else if constexpr (std::is_same_v<T, double>) {
        for (; r + 2 <= rows; r += 2) {
            const double* s = src + r * lds;
            int64_t c = 0;
            for (; c + 2 <= cols; c += 2) {
                const __m128d r0 = _mm_loadu_pd(s + c), r1 = _mm_loadu_pd(s + lds + c);
                _mm_storeu_pd(dst + c * ldd + r, _mm_unpacklo_pd(r0, r1));
                _mm_storeu_pd(dst + (c + 1) * ldd + r, _mm_unpackhi_pd(r0, r1));
            }
            for (; c < cols; ++c) {
                dst[c * ldd + r] = s[c];
                dst[c * ldd + r + 1] = s[lds + c];
            }
        }
    }
#endif
    for (; r < rows; ++r) {
        const T* s = src + r * lds;
        for (int64_t c = 0; c < cols; ++c) dst[c * ldd + r] = s[c];
    }
}

// ------------------------------------------------------------------------------------ packed

template <typename T, class K>
struct Packed {
    static constexpr int64_t MR = K::MR, NR = K::NR, KC = K::KC, MC = K::MC, NC = K::NC;
    static_assert(MC % MR == 0 && NC % NR == 0, "blocks must be whole micro-tiles");

    // Rows [0, mc) x columns [0, kc) of op(A) as ceil(mc/MR) micro-panels, each k-major:
    // panel[p*MR + i] = op(A)[i][p]. A is stored row-major with row stride lda; op(A)[i][p] is
    // a[i*lda + p], or a[p*lda + i] when trans (then each k step reads MR consecutive values).
    // Rows past mc are zero, so the micro-kernel never branches.
    static void pack_a(const T* a, int64_t lda, bool trans, int64_t mc, int64_t kc, T* out) {
        for (int64_t i0 = 0; i0 < mc; i0 += MR) {
            const int64_t rows = std::min(MR, mc - i0);
            if (trans) {
                for (int64_t p = 0; p < kc; ++p) {
                    const T* src = a + p * lda + i0;
                    T* dst = out + p * MR;
                    std::copy(src, src + rows, dst);
                    std::fill(dst + rows, dst + MR, T(0));
                }
            } else {
                transpose_copy(a + i0 * lda, lda, rows, kc, out, MR);
                for (int64_t i = rows; i < MR; ++i)
                    for (int64_t p = 0; p < kc; ++p) out[p * MR + i] = T(0);
            }
            out += kc * MR;
        }
    }

    // Micro-panels [jp0, jp1) of the kc x nc block of op(B), each k-major:
    // panel[p*NR + j] = op(B)[p][jp*NR + j], columns past nc zero. op(B)[p][j] is b[p*ldb + j]
    // (whole rows: unit stride), or b[j*ldb + p] when trans (each column read with unit stride).
    static void pack_b(const T* b, int64_t ldb, bool trans, int64_t kc, int64_t nc, int64_t jp0,
                       int64_t jp1, T* out) {
        for (int64_t jp = jp0; jp < jp1; ++jp) {
            const int64_t j0 = jp * NR, cols = std::min(NR, nc - j0);
            T* panel = out + jp * kc * NR;
            if (trans) {
                transpose_copy(b + j0 * ldb, ldb, cols, kc, panel, NR);
                if (cols < NR)
                    for (int64_t p = 0; p < kc; ++p)
                        std::fill(panel + p * NR + cols, panel + (p + 1) * NR, T(0));
            } else {
                for (int64_t p = 0; p < kc; ++p) {
                    const T* row = b + p * ldb + j0;
                    T* dst = panel + p * NR;
                    std::copy(row, row + cols, dst);
                    std::fill(dst + cols, dst + NR, T(0));
                }
            }
        }
    }

    // Work items per (jc, pc) step: ic_blocks x jr_chunks. Splitting the columns too keeps both
    // threads busy when M has few MC blocks, and a count divisible by the thread count balances
    // the contiguous split (about 8 items per thread, so edge tiles even out).
    static int64_t jr_chunks(int64_t ic_blocks, int64_t panels, int nth) {
        if (nth == 1) return 1;
        int64_t j = std::min(panels, ceil_div(8 * nth, ic_blocks));
        for (int64_t t = j; t <= std::min(panels, 2 * j); ++t)
            if ((ic_blocks * t) % nth == 0) return t;
        return std::max<int64_t>(j, 1);
    }

    // Scratch (elements) for one thread's packed A block and the team's packed B block.
    static int64_t a_scratch(int64_t m, int64_t k) {
        return std::min(MC, round_up(m, MR)) * std::min(KC, k);
    }
    static int64_t b_scratch(int64_t n, int64_t k) {
        return std::min(NC, round_up(n, NR)) * std::min(KC, k);
    }

    // One product by a team of nth threads (this is thread tid; nth == 1 outside a team). pb is the
    // team's shared B block buffer (b_scratch), pa this thread's A block buffer (a_scratch).
    static void gemm(const GemmArgs<T>& g, T* pa, T* pb, int tid, int nth) {
        const int64_t m = g.m, n = g.n, k = g.k;
        const int64_t ic_blocks = ceil_div(m, MC);
        // Equal A blocks (rounded to whole micro-tiles) instead of full ones plus a ragged last.
        const int64_t mc_block = round_up(ceil_div(m, ic_blocks), MR);
        for (int64_t jc = 0; jc < n; jc += NC) {
            const int64_t nc = std::min(NC, n - jc);
            const int64_t panels = ceil_div(nc, NR);
            const int64_t chunks = jr_chunks(ic_blocks, panels, nth);
            const int64_t items = ic_blocks * chunks;
            const int64_t item0 = items * tid / nth, item1 = items * (tid + 1) / nth;
            for (int64_t pc = 0; pc < k; pc += KC) {
                const int64_t kc = std::min(KC, k - pc);
                const T* bblock = g.trans_b ? g.b + jc * g.ldb + pc : g.b + pc * g.ldb + jc;
                pack_b(bblock, g.ldb, g.trans_b, kc, nc, panels * tid / nth,
                       panels * (tid + 1) / nth, pb);
                team_barrier(nth);  // the whole B block is packed
                const bool acc = g.accumulate || pc > 0;
                int64_t packed_ic = -1;
                for (int64_t item = item0; item < item1; ++item) {
                    const int64_t ic = item / chunks, chunk = item % chunks;
                    const int64_t i0 = ic * mc_block, mc = std::min(mc_block, m - i0);
                    if (ic != packed_ic) {
                        const T* ablock = g.trans_a ? g.a + pc * g.lda + i0 : g.a + i0 * g.lda + pc;
                        pack_a(ablock, g.lda, g.trans_a, mc, kc, pa);
                        packed_ic = ic;
                    }
                    const int64_t jp1 = panels * (chunk + 1) / chunks;
                    for (int64_t jp = panels * chunk / chunks; jp < jp1; ++jp) {
                        const int64_t j0 = jp * NR, nr = std::min(NR, nc - j0);
                        const T* bpanel = pb + jp * kc * NR;
                        for (int64_t ir = 0; ir < mc; ir += MR) {
                            K::run(kc, pa + ir * kc, bpanel, g.c + (i0 + ir) * g.ldc + jc + j0,
                                   g.ldc, std::min(MR, mc - ir), nr, acc);
                        }
                    }
                }
                team_barrier(nth);  // everyone is done with this B block before it is repacked
            }
        }
    }

    // op(A) (m x k) packed whole, for gemm_prepacked: K blocks of KC (the last shorter), each
    // ceil(m/MR) micro-panels; block pc starts at pc * round_up(m, MR).
    static void pack_a_full(const T* a, int64_t lda, bool trans, int64_t m, int64_t k, T* out) {
        const int64_t mp = round_up(m, MR);
        for (int64_t pc = 0; pc < k; pc += KC)
            pack_a(trans ? a + pc * lda : a + pc, lda, trans, m, std::min(KC, k - pc),
                   out + pc * mp);
    }

    // op(B) (k x n) packed whole: K blocks, each ceil(n/NR) micro-panels; block pc starts at
    // pc * round_up(n, NR).
    static void pack_b_full(const T* b, int64_t ldb, bool trans, int64_t k, int64_t n, T* out) {
        const int64_t np = round_up(n, NR);
        for (int64_t pc = 0; pc < k; pc += KC)
            pack_b(trans ? b + pc : b + pc * ldb, ldb, trans, std::min(KC, k - pc), n, 0,
                   ceil_div(n, NR), out + pc * np);
    }

    // C (+)= A @ B from wholly packed operands, on the calling thread. No MC / NC blocking: meant
    // for products whose packed A block (round_up(m, MR) x KC) fits in L2, as in a convolution.
    static void prepacked(int64_t m, int64_t n, int64_t k, const T* pa, const T* pb, T* c,
                          int64_t ldc, bool accumulate) {
        const int64_t mp = round_up(m, MR), np = round_up(n, NR);
        for (int64_t pc = 0; pc < k; pc += KC) {
            const int64_t kc = std::min(KC, k - pc);
            const T* ablock = pa + pc * mp;
            const T* bblock = pb + pc * np;
            for (int64_t j0 = 0; j0 < n; j0 += NR) {
                const T* bpanel = bblock + j0 * kc;
                for (int64_t i0 = 0; i0 < m; i0 += MR)
                    K::run(kc, ablock + i0 * kc, bpanel, c + i0 * ldc + j0, ldc,
                           std::min(MR, m - i0), std::min(NR, n - j0), accumulate || pc > 0);
            }
        }
    }

    // Plain row-major operands: c[b] = a[b] @ b[b].
    static GemmArgs<T> plain(const T* a, const T* b, T* c, int64_t m, int64_t n, int64_t k) {
        return GemmArgs<T>{m, n, k, a, k, false, b, n, false, c, n, false};
    }

    // A product on up to `threads` threads sharing the packed B block.
    static void team(const GemmArgs<T>& g, int threads) {
        const int64_t pa_size = a_scratch(g.m, g.k), pb_size = b_scratch(g.n, g.k);
        AlignedBuffer<T> buf(static_cast<std::size_t>(pb_size + pa_size * threads));
#ifdef _OPENMP
#pragma omp parallel num_threads(threads) if (threads > 1)
#endif
        {
            const int tid = thread_id();
            const int nth = threads > 1 ? threads : 1;
            gemm(g, buf.ptr + pb_size + tid * pa_size, buf.ptr, tid, nth);
        }
    }

    static void run(const T* a, const T* b, T* c, int64_t batch, int64_t m, int64_t n, int64_t k) {
        // Buffers sized for this problem (not the full blocks) and allocated here, so that
        // std::bad_alloc surfaces on the calling thread: an exception escaping an OpenMP region
        // would terminate the process.
        const int64_t pa_size = a_scratch(m, k), pb_size = b_scratch(n, k);
        const double flops = 2.0 * m * n * k;
        const int threads = threads_for(flops * batch, batch * m * n);
        // Small matrices (where the barriers would dominate) or a batch that splits evenly go
        // whole to threads, each with its own buffers; otherwise the team shares each matrix.
        const bool by_matrix = threads > 1 && batch > 1 &&
                               (flops < 4.0e6 || batch % threads == 0 || batch >= 4 * threads);
        if (by_matrix) {
            AlignedBuffer<T> buf(static_cast<std::size_t>((pa_size + pb_size) * threads));
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic) num_threads(threads)
#endif
            for (int64_t bi = 0; bi < batch; ++bi) {
                T* pa = buf.ptr + thread_id() * (pa_size + pb_size);
                gemm(plain(a + bi * m * k, b + bi * k * n, c + bi * m * n, m, n, k), pa,
                     pa + pa_size, 0, 1);
            }
            return;
        }
        AlignedBuffer<T> buf(static_cast<std::size_t>(pb_size + pa_size * threads));
#ifdef _OPENMP
#pragma omp parallel num_threads(threads) if (threads > 1)
#endif
        {
            const int tid = thread_id();
            const int nth = threads > 1 ? threads : 1;
            T* pa = buf.ptr + pb_size + tid * pa_size;
            for (int64_t bi = 0; bi < batch; ++bi)
                gemm(plain(a + bi * m * k, b + bi * k * n, c + bi * m * n, m, n, k), pa, buf.ptr,
                     tid, nth);
        }
    }
};

}  // namespace

const char* variant_name(MatmulVariant v) {
    switch (v) {
        case MatmulVariant::Naive: return "naive";
        case MatmulVariant::Blocked: return "blocked";
        case MatmulVariant::Packed: return "packed";
        case MatmulVariant::PackedAvx2: return "packed_avx2";
        case MatmulVariant::PackedAvx512: return "packed_avx512";
    }
    return "?";
}

bool variant_from_name(const std::string& name, MatmulVariant* out) {
    for (MatmulVariant v : {MatmulVariant::Naive, MatmulVariant::Blocked, MatmulVariant::Packed,
                            MatmulVariant::PackedAvx2, MatmulVariant::PackedAvx512}) {
        if (name == variant_name(v)) {
            *out = v;
            return true;
        }
    }
    return false;
}

bool variant_available(MatmulVariant v) {
    switch (v) {
        case MatmulVariant::PackedAvx2: return TC_X86_DISPATCH && cpu_features().avx2_fma;
        case MatmulVariant::PackedAvx512: return TC_X86_DISPATCH && cpu_features().avx512f;
        default: return true;
    }
}

MatmulVariant best_matmul_variant() {
    if (variant_available(MatmulVariant::PackedAvx512)) return MatmulVariant::PackedAvx512;
    if (variant_available(MatmulVariant::PackedAvx2)) return MatmulVariant::PackedAvx2;
    return MatmulVariant::Packed;
}

template <typename T>
void matmul_batched(const T* a, const T* b, T* c, int64_t batch, int64_t m, int64_t n, int64_t k,
                    MatmulVariant variant) {
    if (batch == 0 || m == 0 || n == 0) return;
    if (k == 0) {  // an empty sum: C is all zeros
        std::fill(c, c + batch * m * n, T(0));
        return;
    }
    switch (variant) {
        case MatmulVariant::Naive: return matmul_naive(a, b, c, batch, m, n, k);
        case MatmulVariant::Blocked: return matmul_blocked(a, b, c, batch, m, n, k);
#if TC_X86_DISPATCH
        case MatmulVariant::PackedAvx2:
            return Packed<T, kernels::Avx2<T>>::run(a, b, c, batch, m, n, k);
        case MatmulVariant::PackedAvx512:
            return Packed<T, kernels::Avx512<T>>::run(a, b, c, batch, m, n, k);
#endif
        default: return Packed<T, kernels::Generic<T>>::run(a, b, c, batch, m, n, k);
    }
}

template void matmul_batched<float>(const float*, const float*, float*, int64_t, int64_t, int64_t,
                                    int64_t, MatmulVariant);
template void matmul_batched<double>(const double*, const double*, double*, int64_t, int64_t,
                                     int64_t, int64_t, MatmulVariant);

// ------------------------------------------------------------------------------------ gemm API

namespace {

// A zero-depth product: C = 0 (or unchanged when accumulating).
template <typename T>
bool gemm_trivial(const GemmArgs<T>& g) {
    if (g.m == 0 || g.n == 0) return true;
    if (g.k > 0) return false;
    if (!g.accumulate)
        for (int64_t i = 0; i < g.m; ++i) std::fill(g.c + i * g.ldc, g.c + i * g.ldc + g.n, T(0));
    return true;
}

// Calls f.template operator()<Packed<T, K>>() for the fastest packed kernel this CPU runs.
template <typename T, class F>
auto with_best_kernel(F&& f) {
    static const MatmulVariant best = best_matmul_variant();
#if TC_X86_DISPATCH
    if (best == MatmulVariant::PackedAvx512)
        return f(static_cast<Packed<T, kernels::Avx512<T>>*>(nullptr));
    if (best == MatmulVariant::PackedAvx2)
        return f(static_cast<Packed<T, kernels::Avx2<T>>*>(nullptr));
#endif
    return f(static_cast<Packed<T, kernels::Generic<T>>*>(nullptr));
}

// One output row, op(a) (1 x k) @ op(b) (k x n): a GEMV. The packed kernels would pad M to a whole
// micro-tile (14 rows) and pack all of B for a single row of output, so at M = 1 they run far below
// memory speed (a batch-1 step's products are all of this kind). Here B is streamed once: with B
// transposed (stored n x k) each output is a dot product over a contiguous row; otherwise each row
// k of B is added, scaled by a[k], into the outputs (an axpy, contiguous in n). Threads split n, and
// every output is summed in the same order whatever the thread count. Cost: 2*n*k FLOPs, n*k
// elements of B read once: memory-bound.
template <typename T>
TC_MULTIVERSION void gemv_range(const T* a, const GemmArgs<T>& g, int64_t j0, int64_t j1) {
    T* c = g.c;
    if (g.trans_b) {
        for (int64_t j = j0; j < j1; ++j) {
            const T* row = g.b + j * g.ldb;
            T acc = T(0);
#pragma omp simd reduction(+ : acc)
            for (int64_t kk = 0; kk < g.k; ++kk) acc += a[kk] * row[kk];
            c[j] = g.accumulate ? c[j] + acc : acc;
        }
        return;
    }
    if (!g.accumulate) std::fill(c + j0, c + j1, T(0));
    for (int64_t kk = 0; kk < g.k; ++kk) {
        const T s = a[kk];
        const T* row = g.b + kk * g.ldb;
#pragma omp simd
        for (int64_t j = j0; j < j1; ++j) c[j] += s * row[j];
    }
}

template <typename T>
void gemv(const GemmArgs<T>& g, int max_threads) {
    // op(a) is one row: contiguous unless a is stored transposed (k x 1) with a row stride.
    const bool strided = g.trans_a && g.lda != 1;
    AlignedBuffer<T> gathered(strided ? static_cast<std::size_t>(g.k) : 0);
    const T* a = g.a;
    if (strided) {
        for (int64_t kk = 0; kk < g.k; ++kk) gathered.ptr[kk] = g.a[kk * g.lda];
        a = gathered.ptr;
    }
    const int threads = std::min(max_threads, threads_for(2.0 * g.n * g.k, g.n));
    const int64_t per_thread = std::max<int64_t>(1, ceil_div(g.n, threads));
    parallel_ranges(g.n, per_thread, [&](int64_t j0, int64_t j1) { gemv_range<T>(a, g, j0, j1); });
}

}  // namespace

template <typename T>
int64_t gemm_scratch_size(int64_t m, int64_t n, int64_t k) {
    return with_best_kernel<T>([&](auto* p) {
        using P = std::remove_pointer_t<decltype(p)>;
        // + 64 bytes so the B part can start on a cache line
        return P::a_scratch(m, k) + P::b_scratch(n, k) + 64 / static_cast<int64_t>(sizeof(T));
    });
}

template <typename T>
void gemm_serial(const GemmArgs<T>& g, T* scratch) {
    if (gemm_trivial(g)) return;
    with_best_kernel<T>([&](auto* p) {
        using P = std::remove_pointer_t<decltype(p)>;
        const int64_t line = 64 / static_cast<int64_t>(sizeof(T));
        const int64_t pa_size = round_up(P::a_scratch(g.m, g.k), line);
        P::gemm(g, scratch, scratch + pa_size, 0, 1);
    });
}

template <typename T>
void gemm(const GemmArgs<T>& g, int max_threads) {
    if (gemm_trivial(g)) return;
    if (g.m == 1) return gemv(g, max_threads);
    const int threads = std::min(max_threads, threads_for(2.0 * g.m * g.n * g.k, g.m * g.n));
    with_best_kernel<T>([&](auto* p) {
        using P = std::remove_pointer_t<decltype(p)>;
        P::team(g, std::max(threads, 1));
    });
}

template <typename T>
PackLayout pack_layout() {
    return with_best_kernel<T>([](auto* p) {
        using P = std::remove_pointer_t<decltype(p)>;
        return PackLayout{P::MR, P::NR, P::KC};
    });
}

template <typename T>
void pack_a_full(const T* a, int64_t lda, bool trans, int64_t m, int64_t k, T* out) {
    with_best_kernel<T>([&](auto* p) {
        std::remove_pointer_t<decltype(p)>::pack_a_full(a, lda, trans, m, k, out);
    });
}

template <typename T>
void pack_b_full(const T* b, int64_t ldb, bool trans, int64_t k, int64_t n, T* out) {
    with_best_kernel<T>([&](auto* p) {
        std::remove_pointer_t<decltype(p)>::pack_b_full(b, ldb, trans, k, n, out);
    });
}

template <typename T>
void gemm_prepacked(int64_t m, int64_t n, int64_t k, const T* pa, const T* pb, T* c, int64_t ldc,
                    bool accumulate) {
    if (gemm_trivial(GemmArgs<T>{m, n, k, pa, 0, false, pb, 0, false, c, ldc, accumulate})) return;
    with_best_kernel<T>([&](auto* p) {
        std::remove_pointer_t<decltype(p)>::prepacked(m, n, k, pa, pb, c, ldc, accumulate);
    });
}

#define TC_INSTANTIATE(T)                                                  \
    template int64_t gemm_scratch_size<T>(int64_t, int64_t, int64_t);     \
    template void gemm_serial<T>(const GemmArgs<T>&, T*);                 \
    template void gemm<T>(const GemmArgs<T>&, int);                         \
    template PackLayout pack_layout<T>();                                   \
    template void pack_a_full<T>(const T*, int64_t, bool, int64_t, int64_t, T*); \
    template void pack_b_full<T>(const T*, int64_t, bool, int64_t, int64_t, T*); \
    template void gemm_prepacked<T>(int64_t, int64_t, int64_t, const T*, const T*, T*, int64_t,    \
                                    bool);
TC_INSTANTIATE(float)
TC_INSTANTIATE(double)
#undef TC_INSTANTIATE

}  // namespace tc

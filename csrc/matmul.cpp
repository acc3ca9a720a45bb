// Cache-blocked matmul, C = A @ B, in the loop structure of GotoBLAS / BLIS, kept to plain C++ the
// compiler vectorizes (no intrinsics, so it builds anywhere; the vector width it targets sets the
// tile sizes below).
//
// Cost model. A matmul does 2*M*N*K flops on M*K + K*N + M*N elements, so it is compute-bound only
// if every element loaded from memory is reused many times from a faster level. The blocking below
// gives each level of the memory hierarchy one job:
//
//   registers  an MR x NR tile of C (the accumulators). Each step of the k loop loads MR values of
//              A and NR values of B and does 2*MR*NR flops: with MR=6 and NR=2 vectors that is 12
//              vector multiply-adds per 2 vector loads and 6 scalar broadcasts, so the FP units,
//              not the load ports, are the bottleneck.
//   L1         one packed KC x NR micro-panel of B (KC*NR*sizeof(T), ~8-16 KiB), reused for every
//              MR-row slice of the A block.
//   L2         one packed MC x KC block of A (~100-200 KiB), reused for every NR-column panel of B.
//   L3 / RAM   the packed KC x NC block of B, streamed through L1 one micro-panel at a time.
//
// Packing copies a block into the exact order the micro-kernel reads it (contiguous, zero-padded
// to whole MR / NR tiles), so the inner loop makes unit-stride loads with no edge cases and touches
// few pages. It costs one read and write per element per block: relative to the 2*MC*KC*NC flops
// it enables that is 1/(2*NC) for A and 1/(2*MC) for B -- well under 1%.
//
// Parallelism: the output is cut into MC x NC tiles (times the batch), and OpenMP threads take
// tiles dynamically. Tiles are independent (each owns its rows and columns of C), so there is no
// synchronisation and no false sharing beyond tile edges; each thread packs its own A and B blocks
// into a private buffer. Repacking B per M tile is the price of that independence (the 1/(2*MC)
// above).
#include "matmul.h"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <new>

#include "parallel.h"

namespace tc {
namespace {

// The vector width the compiler may use. The portable default build targets the baseline ISA
// (SSE2 on x86-64: 16-byte vectors, 16 registers); TENSORCORE_NATIVE_ARCH=1 builds may see AVX or
// AVX-512 and get proportionally larger tiles.
#if defined(__AVX512F__)
constexpr int64_t kVecBytes = 64;
constexpr int64_t kVecRegs = 32;
#elif defined(__AVX__)
constexpr int64_t kVecBytes = 32;
constexpr int64_t kVecRegs = 16;
#else
constexpr int64_t kVecBytes = 16;
constexpr int64_t kVecRegs = 16;
#endif

template <typename T>
struct Blocking {
    // NR: two vectors of C per row. MR: rows, chosen so the 2*MR accumulator vectors plus the two
    // B vectors and one broadcast A value fit in the register file (6 rows -> 15 of 16 registers;
    // 14 rows -> 31 of 32 with AVX-512).
    static constexpr int64_t NR = 2 * kVecBytes / static_cast<int64_t>(sizeof(T));
    static constexpr int64_t MR = kVecRegs == 32 ? 14 : 6;
    // KC: depth of one rank-KC update. The B micro-panel (KC*NR*sizeof(T) = KC*2*kVecBytes bytes)
    // must sit in L1 with room for the A micro-panel streaming past it: 8 KiB for SSE, 16 KiB
    // AVX, 32 KiB AVX-512 at KC=256. Larger KC also means fewer passes that reload C.
    static constexpr int64_t KC = 256;
    // MC: A block of MC*KC*sizeof(T) bytes lives in L2: 96 KiB (SSE, float32) to 448 KiB
    // (AVX-512, float64; those CPUs have >= 1 MiB of L2 per core). A multiple of MR so only the
    // last tile of a matrix is ragged.
    static constexpr int64_t MC = 16 * MR;
    // NC: B block width, one output tile's columns. Small enough that M x N splits into many tiles
    // for load balance on few threads; big enough that packing A (1/(2*NC)) stays negligible.
    static constexpr int64_t NC = 32 * NR;
};

// Owns memory from aligned operator new (C++17), 64-byte aligned so packed panels start on a
// cache line.
template <typename T>
struct AlignedBuffer {
    static constexpr std::align_val_t kAlign{64};
    T* ptr;
    explicit AlignedBuffer(std::size_t count)
        : ptr(static_cast<T*>(::operator new(count * sizeof(T), kAlign))) {}
    ~AlignedBuffer() { ::operator delete(ptr, kAlign); }
    AlignedBuffer(const AlignedBuffer&) = delete;
    AlignedBuffer& operator=(const AlignedBuffer&) = delete;
};

// Packs rows [0, mc) x columns [0, kc) of A (row stride lda) as ceil(mc/MR) panels, each laid out
// k-major: panel[p*MR + i] = A[i][p]. Rows past mc are zero, so the micro-kernel never branches.
template <typename T, int64_t MR>
void pack_a(const T* a, int64_t lda, int64_t mc, int64_t kc, T* out) {
    for (int64_t i0 = 0; i0 < mc; i0 += MR) {
        const int64_t rows = std::min(MR, mc - i0);
        for (int64_t p = 0; p < kc; ++p) {
            for (int64_t i = 0; i < rows; ++i) out[p * MR + i] = a[(i0 + i) * lda + p];
            for (int64_t i = rows; i < MR; ++i) out[p * MR + i] = T(0);
        }
        out += kc * MR;
    }
}

// Packs rows [0, kc) x columns [0, nc) of B (row stride ldb) as ceil(nc/NR) panels, each laid out
// k-major: panel[p*NR + j] = B[p][j]. Columns past nc are zero. Reads are unit-stride along rows.
template <typename T, int64_t NR>
void pack_b(const T* b, int64_t ldb, int64_t kc, int64_t nc, T* out) {
    for (int64_t j0 = 0; j0 < nc; j0 += NR) {
        const int64_t cols = std::min(NR, nc - j0);
        for (int64_t p = 0; p < kc; ++p) {
            const T* row = b + p * ldb + j0;
            T* dst = out + p * NR;
            if (cols == NR) {
                std::memcpy(dst, row, NR * sizeof(T));
            } else {
                for (int64_t j = 0; j < cols; ++j) dst[j] = row[j];
                for (int64_t j = cols; j < NR; ++j) dst[j] = T(0);
            }
        }
        out += kc * NR;
    }
}

// The register tile: acc(MR x NR) = sum_p a[p, :]^T b[p, :] over the packed panels, then
// C = acc (first KC block) or C += acc (later ones), writing only the mr x nr valid corner.
// Each k step: NR/W vector loads of B, MR scalar broadcasts of A, MR*NR/W vector multiply-adds.
template <typename T, int64_t MR, int64_t NR>
inline void store_tile(const T (&acc)[MR][NR], T* c, int64_t ldc, int64_t mr, int64_t nr,
                       bool accumulate) {
    for (int64_t i = 0; i < mr; ++i) {
        T* ci = c + i * ldc;
        if (accumulate) {
            for (int64_t j = 0; j < nr; ++j) ci[j] += acc[i][j];
        } else {
            for (int64_t j = 0; j < nr; ++j) ci[j] = acc[i][j];
        }
    }
}

#if defined(__GNUC__)
// GCC / Clang: the tile held explicitly as MR x (NR/W) vectors of W lanes. Written as plain nested
// loops, GCC's SLP vectorizer shuffles the float tile between registers instead of keeping it in
// place (measured: 23 vs 60+ GFLOP/s on 2 SSE2 cores), so the vectors are spelled out.
template <typename T>
struct Vec {
    typedef T type __attribute__((vector_size(kVecBytes)));
};

template <typename T, int64_t MR, int64_t NR>
inline void micro_kernel(int64_t kc, const T* __restrict a, const T* __restrict b, T* __restrict c,
                         int64_t ldc, int64_t mr, int64_t nr, bool accumulate) {
    using V = typename Vec<T>::type;
    constexpr int64_t W = kVecBytes / static_cast<int64_t>(sizeof(T));
    constexpr int64_t NV = NR / W;
    static_assert(NR % W == 0, "NR must be whole vectors");
    V acc[MR][NV];
    for (int64_t i = 0; i < MR; ++i)
        for (int64_t v = 0; v < NV; ++v) acc[i][v] = V{};
    for (int64_t p = 0; p < kc; ++p) {
        V bv[NV];
        std::memcpy(bv, b + p * NR, sizeof(bv));  // one aligned vector load per lane group
        const T* ap = a + p * MR;
        for (int64_t i = 0; i < MR; ++i) {
            const T ai = ap[i];
            for (int64_t v = 0; v < NV; ++v) acc[i][v] += ai * bv[v];
        }
    }
    T tile[MR][NR];
    std::memcpy(tile, acc, sizeof(tile));
    store_tile<T, MR, NR>(tile, c, ldc, mr, nr, accumulate);
}
#else
// Other compilers: the same tile as scalars; fixed MR and NR let the loops unroll and vectorize.
template <typename T, int64_t MR, int64_t NR>
inline void micro_kernel(int64_t kc, const T* __restrict a, const T* __restrict b, T* __restrict c,
                         int64_t ldc, int64_t mr, int64_t nr, bool accumulate) {
    T acc[MR][NR] = {};
    for (int64_t p = 0; p < kc; ++p) {
        const T* ap = a + p * MR;
        const T* bp = b + p * NR;
        for (int64_t i = 0; i < MR; ++i) {
            const T ai = ap[i];
            for (int64_t j = 0; j < NR; ++j) acc[i][j] += ai * bp[j];
        }
    }
    store_tile<T, MR, NR>(acc, c, ldc, mr, nr, accumulate);
}
#endif

// One MC x NC output tile: C[mc x nc] = A[mc x k] @ B[k x nc], looping over k in KC blocks.
template <typename T>
void matmul_tile(const T* a, const T* b, T* c, int64_t mc, int64_t nc, int64_t k, int64_t lda,
                 int64_t ldb, int64_t ldc, T* pa, T* pb) {
    using Bl = Blocking<T>;
    for (int64_t p0 = 0; p0 < k; p0 += Bl::KC) {
        const int64_t kc = std::min(Bl::KC, k - p0);
        pack_b<T, Bl::NR>(b + p0 * ldb, ldb, kc, nc, pb);
        pack_a<T, Bl::MR>(a + p0, lda, mc, kc, pa);
        const bool accumulate = p0 > 0;
        // jr outside ir: one B micro-panel stays in L1 while every A micro-panel streams from L2.
        for (int64_t j0 = 0; j0 < nc; j0 += Bl::NR) {
            const T* bpanel = pb + (j0 / Bl::NR) * kc * Bl::NR;
            const int64_t nr = std::min(Bl::NR, nc - j0);
            for (int64_t i0 = 0; i0 < mc; i0 += Bl::MR) {
                const T* apanel = pa + (i0 / Bl::MR) * kc * Bl::MR;
                const int64_t mr = std::min(Bl::MR, mc - i0);
                micro_kernel<T, Bl::MR, Bl::NR>(kc, apanel, bpanel, c + i0 * ldc + j0, ldc, mr, nr,
                                                accumulate);
            }
        }
    }
}

}  // namespace

template <typename T>
void matmul_batched(const T* a, const T* b, T* c, int64_t batch, int64_t m, int64_t n, int64_t k) {
    using Bl = Blocking<T>;
    if (batch == 0 || m == 0 || n == 0) return;
    if (k == 0) {  // an empty sum: C is all zeros
        std::fill(c, c + batch * m * n, T(0));
        return;
    }
    const int64_t m_tiles = (m + Bl::MC - 1) / Bl::MC;
    const int64_t n_tiles = (n + Bl::NC - 1) / Bl::NC;
    const int64_t tiles_per_matrix = m_tiles * n_tiles;
    const int64_t tasks = batch * tiles_per_matrix;

    // Threads are worth their ~10 us start-up only with a few hundred kflops each; below that
    // (and with a single tile) run on the calling thread.
    const double flops = 2.0 * static_cast<double>(batch) * m * n * k;
    int threads = num_threads();
    if (flops < 2.0e5 * threads) threads = static_cast<int>(std::max(1.0, flops / 2.0e5));
    threads = static_cast<int>(std::min<int64_t>(threads, tasks));

    // Packing buffers for every thread, allocated here so std::bad_alloc surfaces on the calling
    // thread (an exception escaping an OpenMP region would terminate the process).
    const int64_t kc_max = std::min(Bl::KC, k);
    const int64_t pa_size = Bl::MC * kc_max;  // MC is a multiple of MR: no padding needed
    const int64_t pb_size = Bl::NC * kc_max;  // NC is a multiple of NR
    const int64_t per_thread = pa_size + pb_size;
    AlignedBuffer<T> buffers(static_cast<std::size_t>(per_thread * threads));

#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic) num_threads(threads) if (threads > 1)
#endif
    for (int64_t t = 0; t < tasks; ++t) {
        const int64_t bi = t / tiles_per_matrix;
        const int64_t tile = t % tiles_per_matrix;
        const int64_t i0 = (tile / n_tiles) * Bl::MC;
        const int64_t j0 = (tile % n_tiles) * Bl::NC;
        T* pa = buffers.ptr + thread_id() * per_thread;
        T* pb = pa + pa_size;
        matmul_tile<T>(a + bi * m * k + i0 * k, b + bi * k * n + j0, c + bi * m * n + i0 * n + j0,
                       std::min(Bl::MC, m - i0), std::min(Bl::NC, n - j0), k, k, n, n, pa, pb);
    }
}

template void matmul_batched<float>(const float*, const float*, float*, int64_t, int64_t, int64_t,
                                    int64_t);
template void matmul_batched<double>(const double*, const double*, double*, int64_t, int64_t,
                                     int64_t, int64_t);

}  // namespace tc

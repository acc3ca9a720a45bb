// The SGEMM ladder in CUDA C, continued from the Numba one (kernels/numba/matmul.py):
//
//     blocktile_2d -> vectorized -> double_buffered -> warptile      (FP32 FFMA on the CUDA cores)
//     tf32_mma                                                         (opt-in, TF32 tensor cores)
//
// Every kernel computes C[z] = A[z] @ B[z] for one batch entry z = blockIdx.z, A (M, K), B (K, N),
// C (M, N); C is always row-major with leading dimension N, `sCb` elements between batch entries.
// A block computes a BM x BN tile of C, stepping through K in BK-wide slabs staged in shared memory.
// All of them take any M, N, K >= 1: loads past an edge read 0 and stores past an edge are skipped.
//
// Cost model for one M x K @ K x N product: 2*M*N*K FLOPs; ideal DRAM traffic (M*K + K*N + M*N)*4
// bytes. With BM x BN block tiles each element of A is fetched from global memory N/BN times and
// each of B M/BM times: M*N*K*(1/BN + 1/BM) loads (1/64 of the naive count at 128 x 128 tiles). What
// the rungs change is how the on-chip side keeps up with the FMA units:
//
//   blocktile_2d     a thread owns a TM x TN register tile: per k, TM + TN shared-memory loads feed
//                    TM*TN FMAs (16 loads per 64 FMAs at 8 x 8). Scalar global loads, arbitrary
//                    element strides for A and B (transposed or sliced operands need no copy), any
//                    T (float or double). The fallback of every other rung.
//   vectorized       128-bit float4 global loads (4x fewer load instructions) and A stored
//                    transposed in shared memory (As[k][m]) so a thread's TM values of A for one k
//                    are contiguous and come in as float4 shared loads too; float4 stores of C.
//   double_buffered  two shared stages: the next slab is fetched from global memory into registers
//                    while the FMAs of the current slab run, then written to the other stage; one
//                    __syncthreads per slab instead of two, and the load latency is hidden.
//   warptile         a warp owns a WM x WN sub-tile, iterated as WMITER x WNITER patches of
//                    WSUBM x WSUBN (Boehm's kernel 10): the 32 lanes of a warp read shared memory in
//                    a pattern that is broadcast- and conflict-free, and a thread's 128 accumulators
//                    amortize each shared load over 8 (A) or 16 (B) FMAs.
//   tf32_mma         mma.sync.m16n8k8 TF32 tensor-core instructions (inline PTX); inputs rounded to
//                    TF32 (10-bit mantissa, cvt.rna) when staged, FP32 accumulation. ~8x the FP32
//                    FMA peak on an H100; relative error ~1e-3 instead of ~1e-6. Opt-in only.
//
// Vectorized loads need 16-byte aligned rows: K % 4 == 0 (rows of A), N % 4 == 0 (rows of B and C),
// 16-byte aligned base pointers and batch strides that are multiples of 4. The glue checks this and
// passes `vec`; with vec == 0 the same kernel loads and stores scalars with per-element guards (a
// uniform branch: every thread of the grid takes the same path). With vec == 1 a float4 is entirely
// inside or entirely outside the matrix (K and N are multiples of 4), so one guard covers it.
#include "common.cuh"

namespace tc {

// -------------------------------------------------------------------------------------------------
// blocktile_2d: 2-D register blocking with strided scalar loads.
//
// Shared: As[BK][BM + 4] (A transposed; +4 words of padding spread the transposing stores over the
// banks) and Bs[BK][BN]: (BM + 4 + BN) * BK * sizeof(T) bytes, 8.3 KiB for float at 128/128/8.
// Registers: TM*TN accumulators + TM + TN operands. Each thread stages (BM + BN) * BK / NT elements
// per slab. Global element (m, k) of A is at A[m * sAm + k * sAk] (and B likewise), so a transposed
// or sliced operand is read in place.
template <class T, int BM, int BN, int BK, int TM, int TN>
__global__ void __launch_bounds__((BM / TM) * (BN / TN))
sgemm_blocktile_2d(const T* __restrict__ A, const T* __restrict__ B, T* __restrict__ C, int M, int N, int K,
                   long long sAb, long long sAm, long long sAk, long long sBb, long long sBk, long long sBn,
                   long long sCb) {
    constexpr int NT = (BM / TM) * (BN / TN);
    static_assert((BM * BK) % NT == 0 && (BK * BN) % NT == 0, "tile loads must divide evenly");
    __shared__ T As[BK][BM + 4];
    __shared__ T Bs[BK][BN];
    const int t = threadIdx.x;
    const int tcol = t % (BN / TN), trow = t / (BN / TN);     // this thread's TM x TN patch of the tile
    const int row0 = blockIdx.y * BM, col0 = blockIdx.x * BN;
    A += blockIdx.z * sAb;
    B += blockIdx.z * sBb;
    C += blockIdx.z * sCb;
    T acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = T(0);
    T rm[TM], rn[TN];

    for (int k0 = 0; k0 < K; k0 += BK) {
#pragma unroll
        for (int p = 0; p < BM * BK / NT; ++p) {
            const int i = t + p * NT, m = i / BK, k = i % BK;   // consecutive threads walk k (row-major A)
            const int r = row0 + m, c = k0 + k;
            As[k][m] = (r < M && c < K) ? A[r * sAm + c * sAk] : T(0);
        }
#pragma unroll
        for (int p = 0; p < BK * BN / NT; ++p) {
            const int i = t + p * NT, k = i / BN, n = i % BN;   // consecutive threads walk n
            const int r = k0 + k, c = col0 + n;
            Bs[k][n] = (r < K && c < N) ? B[r * sBk + c * sBn] : T(0);
        }
        __syncthreads();                                  // the slab is complete before anyone reads it
#pragma unroll
        for (int d = 0; d < BK; ++d) {
#pragma unroll
            for (int i = 0; i < TM; ++i) rm[i] = As[d][trow * TM + i];
#pragma unroll
            for (int j = 0; j < TN; ++j) rn[j] = Bs[d][tcol * TN + j];
#pragma unroll
            for (int i = 0; i < TM; ++i)
#pragma unroll
                for (int j = 0; j < TN; ++j) acc[i][j] += rm[i] * rn[j];
        }
        __syncthreads();                                  // everyone is done reading before the next slab
    }
#pragma unroll
    for (int i = 0; i < TM; ++i) {
        const int r = row0 + trow * TM + i;
#pragma unroll
        for (int j = 0; j < TN; ++j) {
            const int c = col0 + tcol * TN + j;
            if (r < M && c < N) C[(long long)r * N + c] = acc[i][j];
        }
    }
}

// -------------------------------------------------------------------------------------------------
// Global -> register -> shared staging of one BK-wide slab for the float4 rungs (row-major A with
// leading dimension K, row-major B with leading dimension N). A thread holds A4 float4 of A and B4
// of B. `load` issues the global loads; `store_*` writes them to shared memory. Splitting the two is
// what lets double_buffered overlap the loads of slab k+1 with the FMAs of slab k.
template <int BM, int BN, int BK, int NT>
struct SlabLoader {
    static_assert(BK % 4 == 0 && BN % 4 == 0, "float4 staging needs BK and BN multiples of 4");
    static_assert((BM * BK / 4) % NT == 0 && (BK * BN / 4) % NT == 0, "slab loads must divide evenly");
    static constexpr int A4 = BM * BK / 4 / NT, B4 = BK * BN / 4 / NT;
    float4 a[A4], b[B4];

    // float4 number f of the A slab covers (m, k..k+3); of the B slab, (k, n..n+3).
    static __device__ __forceinline__ void a_pos(int f, int& m, int& k) { m = f / (BK / 4); k = (f % (BK / 4)) * 4; }
    static __device__ __forceinline__ void b_pos(int f, int& k, int& n) { k = f / (BN / 4); n = (f % (BN / 4)) * 4; }

    __device__ __forceinline__ void load(const float* __restrict__ A, const float* __restrict__ B, int M, int N,
                                         int K, int row0, int col0, int k0, int vec) {
        const float4 zero = make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
        for (int p = 0; p < A4; ++p) {
            int m, k;
            a_pos(threadIdx.x + p * NT, m, k);
            const int r = row0 + m, c = k0 + k;
            const float* src = A + (long long)r * K + c;
            if (vec) {
                a[p] = (r < M && c < K) ? *reinterpret_cast<const float4*>(src) : zero;
            } else {
                const bool rok = r < M;
                a[p].x = rok && c + 0 < K ? src[0] : 0.f;
                a[p].y = rok && c + 1 < K ? src[1] : 0.f;
                a[p].z = rok && c + 2 < K ? src[2] : 0.f;
                a[p].w = rok && c + 3 < K ? src[3] : 0.f;
            }
        }
#pragma unroll
        for (int p = 0; p < B4; ++p) {
            int k, n;
            b_pos(threadIdx.x + p * NT, k, n);
            const int r = k0 + k, c = col0 + n;
            const float* src = B + (long long)r * N + c;
            if (vec) {
                b[p] = (r < K && c < N) ? *reinterpret_cast<const float4*>(src) : zero;
            } else {
                const bool rok = r < K;
                b[p].x = rok && c + 0 < N ? src[0] : 0.f;
                b[p].y = rok && c + 1 < N ? src[1] : 0.f;
                b[p].z = rok && c + 2 < N ? src[2] : 0.f;
                b[p].w = rok && c + 3 < N ? src[3] : 0.f;
            }
        }
    }

    // As[k * BM + m] (A transposed), Bs[k * BN + n] (as in global memory). Both 16-byte aligned.
    __device__ __forceinline__ void store(float* As, float* Bs) const {
#pragma unroll
        for (int p = 0; p < A4; ++p) {
            int m, k;
            a_pos(threadIdx.x + p * NT, m, k);
            As[(k + 0) * BM + m] = a[p].x;
            As[(k + 1) * BM + m] = a[p].y;
            As[(k + 2) * BM + m] = a[p].z;
            As[(k + 3) * BM + m] = a[p].w;
        }
#pragma unroll
        for (int p = 0; p < B4; ++p) {
            int k, n;
            b_pos(threadIdx.x + p * NT, k, n);
            *reinterpret_cast<float4*>(&Bs[k * BN + n]) = b[p];
        }
    }
};

// The FMA work on one staged slab for a thread owning rows trow*TM.. and columns tcol*TN..: per k,
// TM/4 + TN/4 float4 shared loads (As is transposed, so A's TM values are contiguous) and TM*TN FMAs.
template <int BM, int BN, int BK, int TM, int TN>
__device__ __forceinline__ void fma_slab(const float* As, const float* Bs, int trow, int tcol, float (&acc)[TM][TN]) {
    static_assert(TM % 4 == 0 && TN % 4 == 0, "float4 shared loads need TM and TN multiples of 4");
    float rm[TM], rn[TN];
#pragma unroll
    for (int d = 0; d < BK; ++d) {
#pragma unroll
        for (int i = 0; i < TM; i += 4) {
            const float4 v = *reinterpret_cast<const float4*>(&As[d * BM + trow * TM + i]);
            rm[i] = v.x; rm[i + 1] = v.y; rm[i + 2] = v.z; rm[i + 3] = v.w;
        }
#pragma unroll
        for (int j = 0; j < TN; j += 4) {
            const float4 v = *reinterpret_cast<const float4*>(&Bs[d * BN + tcol * TN + j]);
            rn[j] = v.x; rn[j + 1] = v.y; rn[j + 2] = v.z; rn[j + 3] = v.w;
        }
#pragma unroll
        for (int i = 0; i < TM; ++i)
#pragma unroll
            for (int j = 0; j < TN; ++j) acc[i][j] += rm[i] * rn[j];
    }
}

// Store a thread's TM x TN accumulators at (r0.., c0..); float4 stores when vec (c0 % 4 == 0 and
// N % 4 == 0, so four columns are all inside or all outside), guarded scalars otherwise.
template <int TM, int TN>
__device__ __forceinline__ void store_tile(float* C, int M, int N, int r0, int c0, const float (&acc)[TM][TN], int vec) {
#pragma unroll
    for (int i = 0; i < TM; ++i) {
        const int r = r0 + i;
        if (r >= M) break;
        float* dst = C + (long long)r * N;
#pragma unroll
        for (int j = 0; j < TN; j += 4) {
            const int c = c0 + j;
            if (vec) {
                if (c < N) *reinterpret_cast<float4*>(dst + c) = make_float4(acc[i][j], acc[i][j + 1], acc[i][j + 2], acc[i][j + 3]);
            } else {
#pragma unroll
                for (int q = 0; q < 4; ++q)
                    if (c + q < N) dst[c + q] = acc[i][j + q];
            }
        }
    }
}

// -------------------------------------------------------------------------------------------------
// vectorized: float4 global loads and stores, A transposed in shared memory.
// Shared: (BM + BN) * BK * 4 bytes (8 KiB at 128/128/8); registers: TM*TN + TM + TN floats + the
// staged float4s. Per slab each thread loads one float4 of A and one of B (at 128/128/8, 256 threads).
template <int BM, int BN, int BK, int TM, int TN>
__global__ void __launch_bounds__((BM / TM) * (BN / TN))
sgemm_vectorized(const float* __restrict__ A, const float* __restrict__ B, float* __restrict__ C, int M, int N, int K,
                 long long sAb, long long sBb, long long sCb, int vec) {
    constexpr int NT = (BM / TM) * (BN / TN);
    __shared__ __align__(16) float As[BK * BM];
    __shared__ __align__(16) float Bs[BK * BN];
    const int t = threadIdx.x;
    const int tcol = t % (BN / TN), trow = t / (BN / TN);
    const int row0 = blockIdx.y * BM, col0 = blockIdx.x * BN;
    A += blockIdx.z * sAb;
    B += blockIdx.z * sBb;
    C += blockIdx.z * sCb;
    float acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = 0.f;
    SlabLoader<BM, BN, BK, NT> ld;
    for (int k0 = 0; k0 < K; k0 += BK) {
        ld.load(A, B, M, N, K, row0, col0, k0, vec);
        ld.store(As, Bs);
        __syncthreads();                                  // slab complete
        fma_slab<BM, BN, BK, TM, TN>(As, Bs, trow, tcol, acc);
        __syncthreads();                                  // slab consumed: safe to overwrite
    }
    store_tile<TM, TN>(C, M, N, row0 + trow * TM, col0 + tcol * TN, acc, vec);
}

// -------------------------------------------------------------------------------------------------
// double_buffered: two shared stages, 2 * (BM + BN) * BK * 4 bytes (32 KiB at 128/128/16).
//
// Invariant at the top of iteration s (slab s is in stage s & 1, complete and visible): the loads of
// slab s+1 are issued into registers, the FMAs of slab s run while they are in flight, then the
// registers go to stage (s+1) & 1 and one barrier publishes them. Overwriting stage (s+1) & 1 is safe
// without a second barrier: its previous contents (slab s-1) were consumed before the barrier that
// ended iteration s-1, which every thread has passed.
// Two blocks per SM (min blocks 2 caps registers at 128 a thread; ptxas reports no spills at the
// glue's configuration) so one block's barrier wait overlaps the other's FMAs.
template <int BM, int BN, int BK, int TM, int TN>
__global__ void __launch_bounds__((BM / TM) * (BN / TN), 2)
sgemm_double_buffered(const float* __restrict__ A, const float* __restrict__ B, float* __restrict__ C, int M, int N,
                      int K, long long sAb, long long sBb, long long sCb, int vec) {
    constexpr int NT = (BM / TM) * (BN / TN);
    __shared__ __align__(16) float As[2][BK * BM];
    __shared__ __align__(16) float Bs[2][BK * BN];
    const int t = threadIdx.x;
    const int tcol = t % (BN / TN), trow = t / (BN / TN);
    const int row0 = blockIdx.y * BM, col0 = blockIdx.x * BN;
    A += blockIdx.z * sAb;
    B += blockIdx.z * sBb;
    C += blockIdx.z * sCb;
    float acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = 0.f;
    SlabLoader<BM, BN, BK, NT> ld;
    const int slabs = (K + BK - 1) / BK;
    ld.load(A, B, M, N, K, row0, col0, 0, vec);
    ld.store(As[0], Bs[0]);
    __syncthreads();
    for (int s = 0; s < slabs; ++s) {
        const int cur = s & 1;
        const bool more = s + 1 < slabs;
        if (more) ld.load(A, B, M, N, K, row0, col0, (s + 1) * BK, vec);   // in flight during the FMAs
        fma_slab<BM, BN, BK, TM, TN>(As[cur], Bs[cur], trow, tcol, acc);
        if (more) ld.store(As[cur ^ 1], Bs[cur ^ 1]);
        __syncthreads();
    }
    store_tile<TM, TN>(C, M, N, row0 + trow * TM, col0 + tcol * TN, acc, vec);
}

// -------------------------------------------------------------------------------------------------
// warptile (Boehm's kernel 10): NT threads, NT/32 warps each owning a WM x WN sub-tile of the block's
// BM x BN tile. Inside it a warp steps over WMITER x WNITER patches of WSUBM x WSUBN; a lane owns a
// TM x TN piece of every patch, WMITER*TM x WNITER*TN accumulators in all (8 x 16 = 128 at the
// defaults). Lanes are laid out 8 (rows) x 4 (columns) over a patch, so per k the warp's shared reads
// of A are 8 distinct float4 addresses (each broadcast to 4 lanes) and of B 4 distinct float4s per
// patch column: no bank conflicts. Shared: (BM + BN) * BK * 4 bytes (16 KiB at 128/128/16).
template <int BM, int BN, int BK, int WM, int WN, int WNITER, int TM, int TN, int NT>
__global__ void __launch_bounds__(NT)
sgemm_warptile(const float* __restrict__ A, const float* __restrict__ B, float* __restrict__ C, int M, int N, int K,
               long long sAb, long long sBb, long long sCb, int vec) {
    constexpr int WMITER = (WM * WN) / (WARP * TM * TN * WNITER);
    constexpr int WSUBM = WM / WMITER, WSUBN = WN / WNITER;
    static_assert((BM / WM) * (BN / WN) == NT / WARP, "one warp per WM x WN sub-tile");
    static_assert(WMITER >= 1 && WSUBM == (WARP / (WSUBN / TN)) * TM, "lanes must tile a patch exactly");
    static_assert(TM % 4 == 0 && TN % 4 == 0, "float4 shared loads");
    __shared__ __align__(16) float As[BK * BM];
    __shared__ __align__(16) float Bs[BK * BN];
    const int t = threadIdx.x, warp = t / WARP, lane = t % WARP;
    const int wrow = warp / (BN / WN), wcol = warp % (BN / WN);
    const int lrow = lane / (WSUBN / TN), lcol = lane % (WSUBN / TN);
    const int row0 = blockIdx.y * BM, col0 = blockIdx.x * BN;
    A += blockIdx.z * sAb;
    B += blockIdx.z * sBb;
    C += blockIdx.z * sCb;
    float acc[WMITER * TM][WNITER * TN];
#pragma unroll
    for (int i = 0; i < WMITER * TM; ++i)
#pragma unroll
        for (int j = 0; j < WNITER * TN; ++j) acc[i][j] = 0.f;
    float rm[WMITER * TM], rn[WNITER * TN];
    SlabLoader<BM, BN, BK, NT> ld;
    for (int k0 = 0; k0 < K; k0 += BK) {
        ld.load(A, B, M, N, K, row0, col0, k0, vec);
        ld.store(As, Bs);
        __syncthreads();
#pragma unroll
        for (int d = 0; d < BK; ++d) {
#pragma unroll
            for (int wm = 0; wm < WMITER; ++wm)
#pragma unroll
                for (int i = 0; i < TM; i += 4) {
                    const float4 v = *reinterpret_cast<const float4*>(
                        &As[d * BM + wrow * WM + wm * WSUBM + lrow * TM + i]);
                    rm[wm * TM + i] = v.x; rm[wm * TM + i + 1] = v.y; rm[wm * TM + i + 2] = v.z; rm[wm * TM + i + 3] = v.w;
                }
#pragma unroll
            for (int wn = 0; wn < WNITER; ++wn)
#pragma unroll
                for (int j = 0; j < TN; j += 4) {
                    const float4 v = *reinterpret_cast<const float4*>(
                        &Bs[d * BN + wcol * WN + wn * WSUBN + lcol * TN + j]);
                    rn[wn * TN + j] = v.x; rn[wn * TN + j + 1] = v.y; rn[wn * TN + j + 2] = v.z; rn[wn * TN + j + 3] = v.w;
                }
#pragma unroll
            for (int i = 0; i < WMITER * TM; ++i)
#pragma unroll
                for (int j = 0; j < WNITER * TN; ++j) acc[i][j] += rm[i] * rn[j];
        }
        __syncthreads();
    }
#pragma unroll
    for (int wm = 0; wm < WMITER; ++wm)
#pragma unroll
        for (int wn = 0; wn < WNITER; ++wn) {
            float part[TM][TN];
#pragma unroll
            for (int i = 0; i < TM; ++i)
#pragma unroll
                for (int j = 0; j < TN; ++j) part[i][j] = acc[wm * TM + i][wn * TN + j];
            store_tile<TM, TN>(C, M, N, row0 + wrow * WM + wm * WSUBM + lrow * TM,
                               col0 + wcol * WN + wn * WSUBN + lcol * TN, part, vec);
        }
}

// -------------------------------------------------------------------------------------------------
// tf32_mma: TF32 tensor cores through mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32.
//
// 8 warps as WARPS_M x WARPS_N (2 x 4) over a 128 x 128 tile; a warp owns 64 x 32 = MI x NI (4 x 4)
// m16n8 accumulator fragments, 4 floats each per lane (64 accumulators). Per 8-wide k step a warp
// issues MI*NI = 16 mma instructions (16 * 2048 FLOPs) after MI*4 + NI*2 32-bit shared loads a lane.
// Shared (TF32 bit patterns, rounded once when staged with cvt.rna.tf32.f32):
//   As[BM][BK + 4]   row-major; the +4 pad makes the fragment reads (rows g, columns tig) hit 32
//                    distinct banks: (g * 20 + tig) mod 32 is a permutation for g < 8, tig < 4.
//   Bs[BK][BN + 8]   row-major; (tig * 136 + g) mod 32 = tig * 8 + g, again conflict-free.
// Fragment layouts (PTX ISA, m16n8k8 .tf32; g = lane / 4, tig = lane % 4):
//   A: a0 (g, tig)  a1 (g + 8, tig)  a2 (g, tig + 4)  a3 (g + 8, tig + 4)
//   B: b0 (k = tig, n = g)  b1 (k = tig + 4, n = g)
//   C: c0 (g, 2 tig)  c1 (g, 2 tig + 1)  c2 (g + 8, 2 tig)  c3 (g + 8, 2 tig + 1)
// Accuracy: each product carries the rounding of two 11-bit-significand inputs (relative 2^-11 each);
// sums stay FP32, so a K-long dot product of random data lands ~1e-3 relative to the FP32 result.
__device__ __forceinline__ unsigned to_tf32(float x) {
    unsigned r;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
    return r;
}

__device__ __forceinline__ void mma_tf32(float (&c)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
    asm volatile(
        "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 "
        "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

template <int BM, int BN, int BK, int WARPS_M, int WARPS_N>
__global__ void __launch_bounds__(WARPS_M * WARPS_N * WARP)
sgemm_tf32_mma(const float* __restrict__ A, const float* __restrict__ B, float* __restrict__ C, int M, int N, int K,
               long long sAb, long long sBb, long long sCb, int vec) {
    constexpr int NT = WARPS_M * WARPS_N * WARP;
    constexpr int WM = BM / WARPS_M, WN = BN / WARPS_N, MI = WM / 16, NI = WN / 8;
    constexpr int LDA = BK + 4, LDB = BN + 8;
    static_assert(WM % 16 == 0 && WN % 8 == 0 && BK % 8 == 0, "whole m16n8k8 fragments");
    __shared__ unsigned As[BM * LDA];
    __shared__ unsigned Bs[BK * LDB];
    const int t = threadIdx.x, warp = t / WARP, lane = t % WARP;
    const int g = lane / 4, tig = lane % 4;
    const int wm0 = (warp / WARPS_N) * WM, wn0 = (warp % WARPS_N) * WN;
    const int row0 = blockIdx.y * BM, col0 = blockIdx.x * BN;
    A += blockIdx.z * sAb;
    B += blockIdx.z * sBb;
    C += blockIdx.z * sCb;
    float acc[MI][NI][4];
#pragma unroll
    for (int mi = 0; mi < MI; ++mi)
#pragma unroll
        for (int ni = 0; ni < NI; ++ni)
#pragma unroll
            for (int q = 0; q < 4; ++q) acc[mi][ni][q] = 0.f;
    using Loader = SlabLoader<BM, BN, BK, NT>;
    Loader ld;
    for (int k0 = 0; k0 < K; k0 += BK) {
        ld.load(A, B, M, N, K, row0, col0, k0, vec);
#pragma unroll
        for (int p = 0; p < Loader::A4; ++p) {
            int m, k;
            Loader::a_pos(t + p * NT, m, k);
            unsigned* dst = &As[m * LDA + k];
            dst[0] = to_tf32(ld.a[p].x); dst[1] = to_tf32(ld.a[p].y);
            dst[2] = to_tf32(ld.a[p].z); dst[3] = to_tf32(ld.a[p].w);
        }
#pragma unroll
        for (int p = 0; p < Loader::B4; ++p) {
            int k, n;
            Loader::b_pos(t + p * NT, k, n);
            unsigned* dst = &Bs[k * LDB + n];
            dst[0] = to_tf32(ld.b[p].x); dst[1] = to_tf32(ld.b[p].y);
            dst[2] = to_tf32(ld.b[p].z); dst[3] = to_tf32(ld.b[p].w);
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < BK; kk += 8) {
            unsigned af[MI][4], bf[NI][2];
#pragma unroll
            for (int mi = 0; mi < MI; ++mi) {
                const unsigned* src = &As[(wm0 + mi * 16 + g) * LDA + kk + tig];
                af[mi][0] = src[0];
                af[mi][1] = src[8 * LDA];
                af[mi][2] = src[4];
                af[mi][3] = src[8 * LDA + 4];
            }
#pragma unroll
            for (int ni = 0; ni < NI; ++ni) {
                const unsigned* src = &Bs[(kk + tig) * LDB + wn0 + ni * 8 + g];
                bf[ni][0] = src[0];
                bf[ni][1] = src[4 * LDB];
            }
#pragma unroll
            for (int mi = 0; mi < MI; ++mi)
#pragma unroll
                for (int ni = 0; ni < NI; ++ni) mma_tf32(acc[mi][ni], af[mi], bf[ni]);
        }
        __syncthreads();
    }
#pragma unroll
    for (int mi = 0; mi < MI; ++mi)
#pragma unroll
        for (int ni = 0; ni < NI; ++ni) {
            const int r = row0 + wm0 + mi * 16 + g, c = col0 + wn0 + ni * 8 + 2 * tig;
#pragma unroll
            for (int h = 0; h < 2; ++h) {            // h = 0: row g (c0, c1); h = 1: row g + 8 (c2, c3)
                const int rr = r + 8 * h;
                if (rr >= M) continue;
                float* dst = C + (long long)rr * N;
                if (c < N) dst[c] = acc[mi][ni][2 * h];
                if (c + 1 < N) dst[c + 1] = acc[mi][ni][2 * h + 1];
            }
        }
}

}  // namespace tc

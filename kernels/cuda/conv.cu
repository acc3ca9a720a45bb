// 2-D convolution (cross-correlation, PyTorch's conv2d without bias) as implicit GEMM, forward and
// both gradients; NCHW input x (Nb, C, H, W), OIHW weight w (O, C/G, KH, KW), output y (Nb, O, OH, OW);
// stride, padding, dilation per axis, G groups. T is float or double.
//
// Implicit GEMM: the im2col matrix is never materialized. Each GEMM operand is a function of its
// (row, column) that decodes the indices and reads the NCHW/OIHW arrays directly (returning 0 for
// padding), called while a BK-wide slab is staged in shared memory; the tiled FMA loop is the
// blocktile_2d one from the SGEMM ladder (BM x BN block tile, TM x TN per thread). With
// Cg = C/G, Og = O/G, KHW = KH*KW, P = Nb*OH*OW, for group g = blockIdx.z:
//
//   forward      Y_g (Og x P)       = W_g (Og x Cg*KHW)  @ cols_g (Cg*KHW x P)
//   data grad    dX_g (Cg x Nb*H*W) = W_g^T (Cg x Og*KHW) @ dYcols_g (Og*KHW x Nb*H*W)
//                where dYcols[(o, a, b), (n, h, w)] = dy[n, o, (h + PH - a*DH) / SH, (w + PW - b*DW) / SW]
//                when both divisions are exact and in range, else 0: a gather that writes each input
//                gradient exactly once (no col2im scatter, no atomics).
//   weight grad  dW_g (Og x Cg*KHW) = dY_g (Og x P) @ cols_g^T (P x Cg*KHW), the reduction over P
//                split SPLITS ways (blockIdx.z = g * SPLITS + s) into a (SPLITS, O, Cg*KHW) workspace
//                that the glue sums: a weight gradient is a small output with a huge reduction, and
//                the split gives the GPU enough blocks.
//
// Cost: each is 2 * Nb*O*OH*OW * Cg*KHW FLOPs (data grad: plus the zero terms of stride > 1, a factor
// up to SH*SW). Global reads: every operand element is fetched once per block tile it feeds
// (weights P/BN times, inputs Og/BM times), mostly from L2; the only extra memory is the weight-grad
// workspace, SPLITS * O * Cg*KHW * sizeof(T). Index decoding costs a few integer divisions per staged
// element, amortized over the TM*TN FMAs each staged value feeds. Sizes and every flat index of x, y
// and w fit in int32 per the glue's checks; addresses are formed in 64-bit.
#include "common.cuh"

namespace tc {

struct ConvGeom {
    int Nb, C, H, W, O, OH, OW, KH, KW, SH, SW, PH, PW, DH, DW, G;
    __device__ int cg() const { return C / G; }
    __device__ int og() const { return O / G; }
    __device__ int khw() const { return KH * KW; }
};

#define TC_CONV_ARGS int Nb, int C, int H, int W, int O, int OH, int OW, int KH, int KW, int SH, int SW, \
                     int PH, int PW, int DH, int DW, int G
#define TC_CONV_GEOM const ConvGeom geo{Nb, C, H, W, O, OH, OW, KH, KW, SH, SW, PH, PW, DH, DW, G}

// The generic tiled loop. `op.a(m, k)`, `op.b(k, n)` read operand elements inside the matrix (the
// loop guards the edges: rows < M, columns < N, reduction index in [k_begin, k_end)); `op.store(m, n, v)`
// writes a result. A_K_FAST / B_K_FAST: whether consecutive threads stage consecutive reduction
// indices (true) or consecutive m / n (false) -- chosen per operand so that a warp's global reads are
// as contiguous as the layout allows.
template <class T, int BM, int BN, int BK, int TM, int TN, bool A_K_FAST, bool B_K_FAST, class Op>
__device__ __forceinline__ void implicit_gemm(const Op& op, int M, int N, int k_begin, int k_end) {
    constexpr int NT = (BM / TM) * (BN / TN);
    static_assert((BM * BK) % NT == 0 && (BK * BN) % NT == 0, "slab loads must divide evenly");
    __shared__ T As[BK][BM + 4];
    __shared__ T Bs[BK][BN + 4];
    const int t = threadIdx.x;
    const int tcol = t % (BN / TN), trow = t / (BN / TN);
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    T acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = T(0);
    T rm[TM], rn[TN];
    for (int k0 = k_begin; k0 < k_end; k0 += BK) {
#pragma unroll
        for (int p = 0; p < BM * BK / NT; ++p) {
            const int i = t + p * NT;
            const int m = A_K_FAST ? i / BK : i % BM, k = A_K_FAST ? i % BK : i / BM;
            const int r = m0 + m, c = k0 + k;
            As[k][m] = (r < M && c < k_end) ? op.a(r, c) : T(0);
        }
#pragma unroll
        for (int p = 0; p < BK * BN / NT; ++p) {
            const int i = t + p * NT;
            const int n = B_K_FAST ? i / BK : i % BN, k = B_K_FAST ? i % BK : i / BN;
            const int r = k0 + k, c = n0 + n;
            Bs[k][n] = (r < k_end && c < N) ? op.b(r, c) : T(0);
        }
        __syncthreads();                          // slab complete before it is read
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
        __syncthreads();                          // slab consumed before it is overwritten
    }
#pragma unroll
    for (int i = 0; i < TM; ++i) {
        const int r = m0 + trow * TM + i;
#pragma unroll
        for (int j = 0; j < TN; ++j) {
            const int c = n0 + tcol * TN + j;
            if (r < M && c < N) op.store(r, c, acc[i][j]);
        }
    }
}

// x[n, g*Cg + c, oh*SH - PH + a*DH, ow*SW - PW + b*DW] for reduction index k = (c, a, b) and output
// pixel p = (n, oh, ow); 0 in the padding.
template <class T>
__device__ __forceinline__ T im2col_at(const T* __restrict__ x, const ConvGeom& s, int grp, int k, int p) {
    const int khw = s.khw(), ohw = s.OH * s.OW;
    const int c = k / khw, r = k - c * khw, a = r / s.KW, b = r - a * s.KW;
    const int n = p / ohw, q = p - n * ohw, oh = q / s.OW, ow = q - oh * s.OW;
    const int ih = oh * s.SH - s.PH + a * s.DH, iw = ow * s.SW - s.PW + b * s.DW;
    if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W) return T(0);
    return x[(((long long)n * s.C + grp * s.cg() + c) * s.H + ih) * s.W + iw];
}

// dy[n, g*Og + o, oh, ow] for output pixel p = (n, oh, ow).
template <class T>
__device__ __forceinline__ long long dy_offset(const ConvGeom& s, int grp, int o, int p) {
    const int ohw = s.OH * s.OW;
    const int n = p / ohw, q = p - n * ohw;
    return ((long long)n * s.O + grp * s.og() + o) * ohw + q;
}

template <class T>
struct ConvForwardOp {
    const T* x; const T* w; T* y; ConvGeom s; int grp;
    __device__ T a(int m, int k) const { return w[((long long)grp * s.og() + m) * (s.cg() * s.khw()) + k]; }
    __device__ T b(int k, int p) const { return im2col_at(x, s, grp, k, p); }
    __device__ void store(int m, int p, T v) const { y[dy_offset<T>(s, grp, m, p)] = v; }
};

template <class T>
struct ConvDataGradOp {
    const T* w; const T* dy; T* dx; ConvGeom s; int grp;
    // A = W_g^T: row c, column k = (o, a, b).
    __device__ T a(int c, int k) const {
        const int khw = s.khw(), o = k / khw, r = k - o * khw;
        return w[(((long long)grp * s.og() + o) * s.cg() + c) * khw + r];
    }
    // B = dYcols: row k = (o, a, b), column q = (n, h, w).
    __device__ T b(int k, int q) const {
        const int khw = s.khw(), o = k / khw, r = k - o * khw, ka = r / s.KW, kb = r - ka * s.KW;
        const int hw = s.H * s.W, n = q / hw, rem = q - n * hw, h = rem / s.W, wc = rem - h * s.W;
        const int th = h + s.PH - ka * s.DH, tw = wc + s.PW - kb * s.DW;
        if (th < 0 || tw < 0 || th % s.SH || tw % s.SW) return T(0);   // checked th, tw >= 0 first
        const int oh = th / s.SH, ow = tw / s.SW;
        if (oh >= s.OH || ow >= s.OW) return T(0);
        return dy[(((long long)n * s.O + grp * s.og() + o) * s.OH + oh) * s.OW + ow];
    }
    __device__ void store(int c, int q, T v) const {
        const int hw = s.H * s.W, n = q / hw, rem = q - n * hw;
        dx[((long long)n * s.C + grp * s.cg() + c) * hw + rem] = v;
    }
};

template <class T>
struct ConvWeightGradOp {
    const T* x; const T* dy; T* ws; ConvGeom s; int grp, split;
    __device__ T a(int o, int p) const { return dy[dy_offset<T>(s, grp, o, p)]; }
    __device__ T b(int p, int k) const { return im2col_at(x, s, grp, k, p); }
    __device__ void store(int o, int k, T v) const {
        ws[((long long)split * s.O + grp * s.og() + o) * (s.cg() * s.khw()) + k] = v;
    }
};

// grid (ceil(Nb*OH*OW / BN), ceil(Og / BM), G)
template <class T, int BM, int BN, int BK, int TM, int TN>
__global__ void __launch_bounds__((BM / TM) * (BN / TN))
conv2d_forward(const T* __restrict__ x, const T* __restrict__ w, T* __restrict__ y, TC_CONV_ARGS) {
    TC_CONV_GEOM;
    const ConvForwardOp<T> op{x, w, y, geo, (int)blockIdx.z};
    implicit_gemm<T, BM, BN, BK, TM, TN, true, false>(op, geo.og(), Nb * OH * OW, 0, geo.cg() * geo.khw());
}

// grid (ceil(Nb*H*W / BN), ceil(Cg / BM), G)
template <class T, int BM, int BN, int BK, int TM, int TN>
__global__ void __launch_bounds__((BM / TM) * (BN / TN))
conv2d_backward_data(const T* __restrict__ w, const T* __restrict__ dy, T* __restrict__ dx, TC_CONV_ARGS) {
    TC_CONV_GEOM;
    const ConvDataGradOp<T> op{w, dy, dx, geo, (int)blockIdx.z};
    implicit_gemm<T, BM, BN, BK, TM, TN, true, false>(op, geo.cg(), Nb * H * W, 0, geo.og() * geo.khw());
}

// grid (ceil(Cg*KH*KW / BN), ceil(Og / BM), G * splits); `chunk` (a multiple of BK) reduction indices
// per split; a split past the end stores zeros, so every workspace element is written.
template <class T, int BM, int BN, int BK, int TM, int TN>
__global__ void __launch_bounds__((BM / TM) * (BN / TN))
conv2d_backward_weight(const T* __restrict__ x, const T* __restrict__ dy, T* __restrict__ ws, TC_CONV_ARGS,
                       int splits, int chunk) {
    TC_CONV_GEOM;
    const int grp = blockIdx.z / splits, split = blockIdx.z % splits;
    const ConvWeightGradOp<T> op{x, dy, ws, geo, grp, split};
    const int P = Nb * OH * OW;
    const long long begin = (long long)split * chunk, end = begin + chunk < P ? begin + chunk : P;
    implicit_gemm<T, BM, BN, BK, TM, TN, true, true>(op, geo.og(), geo.cg() * geo.khw(), (int)(begin < P ? begin : P),
                                                     (int)end);
}

}  // namespace tc

// The pointwise half of one LSTM step, fused into one kernel each way; the gate GEMMs run through the
// SGEMM ladder in the glue. T is float or double. Layout and gate order as the reference
// (tensorcore/backends/reference.py: lstm_cell): gates (N, 4H) are [input | forget | cell | output].
//
// forward, one thread per (n, j) of the N x H state (grid-stride):
//     pre  = gx[n, k*H + j] + gh[n, k*H + j] + b[k*H + j]       k = 0..3, gx = x @ w_ih^T, gh = h @ w_hh^T
//     i, f, o = sigmoid(pre_i, pre_f, pre_o); g = tanh(pre_g)     (sigmoid as 0.5 * (1 + tanh(x / 2)))
//     c' = f * c + i * g;  h' = o * tanh(c')
//   writes the activated gates (kept for backward), c' and h'. Replaces ~10 elementwise launches
//   (bias add, 4 activations, 3 products, a sum, a tanh) with one: reads 2 * 4H + H values and writes
//   4H + 2H values per row, 5 transcendental functions per (n, j).
// backward, one thread per (n, j):
//     tc = tanh(f * c + i * g)                       (c' recomputed, not stored)
//     dc' = dc_out + dh * o * (1 - tc^2)
//     d_i = dc' * g * i (1 - i);  d_f = dc' * c * f (1 - f);  d_g = dc' * i (1 - g^2);  d_o = dh * tc * o (1 - o)
//     dc = dc' * f
//   writes the pre-activation gradient d (N, 4H) that the glue feeds to four GEMMs (dx = d @ w_ih,
//   dh = d @ w_hh, dw_ih = d^T @ x, dw_hh = d^T @ h) and a column sum (db), plus dc.
#include "common.cuh"

namespace tc {

template <class T>
__global__ void lstm_cell_forward(const T* __restrict__ gx, const T* __restrict__ gh, const T* __restrict__ b,
                                  const T* __restrict__ c, T* __restrict__ h_out, T* __restrict__ c_out,
                                  T* __restrict__ act, int N, int H) {
    const long long n_el = (long long)N * H;
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < n_el; e += (long long)gridDim.x * blockDim.x) {
        const int n = (int)(e / H), j = (int)(e - (long long)n * H);
        const long long row = (long long)n * 4 * H;
        const T pi = gx[row + j] + gh[row + j] + b[j];
        const T pf = gx[row + H + j] + gh[row + H + j] + b[H + j];
        const T pg = gx[row + 2 * H + j] + gh[row + 2 * H + j] + b[2 * H + j];
        const T po = gx[row + 3 * H + j] + gh[row + 3 * H + j] + b[3 * H + j];
        const T i = sigm(pi), f = sigm(pf), g = th(pg), o = sigm(po);
        const T cn = f * c[e] + i * g;
        act[row + j] = i;
        act[row + H + j] = f;
        act[row + 2 * H + j] = g;
        act[row + 3 * H + j] = o;
        c_out[e] = cn;
        h_out[e] = o * th(cn);
    }
}

template <class T>
__global__ void lstm_cell_backward(const T* __restrict__ act, const T* __restrict__ c, const T* __restrict__ grad_h,
                                   const T* __restrict__ grad_c, T* __restrict__ d, T* __restrict__ dc, int N, int H) {
    const long long n_el = (long long)N * H;
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < n_el; e += (long long)gridDim.x * blockDim.x) {
        const int n = (int)(e / H), j = (int)(e - (long long)n * H);
        const long long row = (long long)n * 4 * H;
        const T i = act[row + j], f = act[row + H + j], g = act[row + 2 * H + j], o = act[row + 3 * H + j];
        const T cv = c[e], gh = grad_h[e];
        const T tcn = th(f * cv + i * g);
        const T dcn = grad_c[e] + gh * o * (T(1) - tcn * tcn);
        d[row + j] = dcn * g * i * (T(1) - i);
        d[row + H + j] = dcn * cv * f * (T(1) - f);
        d[row + 2 * H + j] = dcn * i * (T(1) - g * g);
        d[row + 3 * H + j] = gh * tcn * o * (T(1) - o);
        dc[e] = dcn * f;
    }
}

}  // namespace tc

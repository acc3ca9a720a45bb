// The LSTM cell: two GEMMs into one gate buffer, then one fused pointwise pass.
//
// Forward: gates = x @ w_ih^T, then gates += h @ w_hh^T (the packed GEMM of csrc/matmul.cpp with
// a transposed B and accumulation, so the two products need no concatenated copy), then a single
// pass over each row that adds the bias, applies sigmoid / tanh in place and writes c' and h'.
// The reference makes about fifteen NumPy passes over (N, H)- and (N, 4H)-sized temporaries.
//
// Backward: one pass computes the pre-activation gradient d (N, 4H) and dc; then four GEMMs
// (dx = d @ w_ih, dh = d @ w_hh, dw_ih = d^T @ x, dw_hh = d^T @ h, the transposes again folded
// into the packing) and the column sum db, row after row (a fixed order, so results do not depend
// on the thread count).
//
// sigmoid(x) = 1 / (1 + exp(-x)) and tanh(x) = (1 - e) / (1 + e) with e = exp(-2|x|) (sign
// restored), through the branch-free tc::exp_vec, so the pointwise loops vectorize; near zero,
// where 1 - e would cancel, tanh is its Taylor polynomial to x^15 (relative error < 3e-10 for
// |x| < 0.4, used for float32; < 3e-16 for |x| < 0.1, used for float64).
#include "lstm.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "buffer.h"
#include "cpu_features.h"
#include "matmul.h"
#include "parallel.h"
#include "vec_math.h"

namespace tc {
namespace {

template <typename T>
TC_ALWAYS_INLINE T sigmoid_vec(T x) {
    return T(1) / (T(1) + exp_vec(-x));
}

template <typename T>
TC_ALWAYS_INLINE T tanh_vec(T x) {
    constexpr T kSmall = sizeof(T) == 4 ? T(0.4) : T(0.1);
    const T a = x < T(0) ? -x : x;  // |x| (NaN stays NaN)
    const T e = exp_vec(T(-2) * a);
    const T big = (T(1) - e) / (T(1) + e);
    const T a2 = a * a;
    T p = T(-929569.0 / 638512875.0);
    p = p * a2 + T(21844.0 / 6081075.0);
    p = p * a2 + T(-1382.0 / 155925.0);
    p = p * a2 + T(62.0 / 2835.0);
    p = p * a2 + T(-17.0 / 315.0);
    p = p * a2 + T(2.0 / 15.0);
    p = p * a2 + T(-1.0 / 3.0);
    const T small = a + a * a2 * p;
    const T t = a < kSmall ? small : big;
    return x < T(0) ? -t : t;
}

// One row: pre-activations (+ bias) -> activated gates (in place), c', h'.
template <typename T>
TC_MULTIVERSION void forward_row(T* gates, const T* b, const T* c, T* c_new, T* h_new,
                                 int64_t hid) {
    T* gi = gates;
    T* gf = gates + hid;
    T* gg = gates + 2 * hid;
    T* go = gates + 3 * hid;
    const T* bi = b;
    const T* bf = b + hid;
    const T* bg = b + 2 * hid;
    const T* bo = b + 3 * hid;
#pragma omp simd
    for (int64_t j = 0; j < hid; ++j) {
        const T i = sigmoid_vec(gi[j] + bi[j]);
        const T f = sigmoid_vec(gf[j] + bf[j]);
        const T g = tanh_vec(gg[j] + bg[j]);
        const T o = sigmoid_vec(go[j] + bo[j]);
        const T cn = f * c[j] + i * g;
        gi[j] = i;
        gf[j] = f;
        gg[j] = g;
        go[j] = o;
        c_new[j] = cn;
        h_new[j] = o * tanh_vec(cn);
    }
}

// One row: activated gates, c and the output gradients -> pre-activation gradient d, dc.
template <typename T>
TC_MULTIVERSION void backward_row(const T* gates, const T* c, const T* gh, const T* gc, T* d,
                                  T* dc, int64_t hid) {
    const T* gi = gates;
    const T* gf = gates + hid;
    const T* gg = gates + 2 * hid;
    const T* go = gates + 3 * hid;
#pragma omp simd
    for (int64_t j = 0; j < hid; ++j) {
        const T i = gi[j], f = gf[j], g = gg[j], o = go[j];
        const T tc = tanh_vec(f * c[j] + i * g);
        const T dcn = gc[j] + gh[j] * o * (T(1) - tc * tc);
        d[j] = dcn * g * i * (T(1) - i);
        d[hid + j] = dcn * c[j] * f * (T(1) - f);
        d[2 * hid + j] = dcn * i * (T(1) - g * g);
        d[3 * hid + j] = gh[j] * tc * o * (T(1) - o);
        dc[j] = dcn * f;
    }
}

template <typename T>
TC_MULTIVERSION void add_rows(const T* d, T* db, int64_t rows, int64_t cols) {
    std::fill(db, db + cols, T(0));
    for (int64_t r = 0; r < rows; ++r) {
        const T* dr = d + r * cols;
#pragma omp simd
        for (int64_t j = 0; j < cols; ++j) db[j] += dr[j];
    }
}

// Rows per thread for the pointwise passes: at least ~8K elements each.
inline int64_t min_rows(int64_t hid) {
    return std::max<int64_t>(1, 8192 / std::max<int64_t>(hid, 1));
}

}  // namespace

template <typename T>
void lstm_cell_forward(const T* x, const T* h, const T* c, const T* w_ih, const T* w_hh,
                       const T* b, T* h_new, T* c_new, T* gates, const LstmShape& s) {
    const int64_t n = s.n, in = s.in, hid = s.hid, g4 = 4 * s.hid;
    if (n == 0 || hid == 0) return;
    const int nt = num_threads();
    gemm(GemmArgs<T>{n, g4, in, x, in, false, w_ih, in, true, gates, g4, false}, nt);
    gemm(GemmArgs<T>{n, g4, hid, h, hid, false, w_hh, hid, true, gates, g4, true}, nt);
    parallel_ranges(n, min_rows(hid), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r)
            forward_row(gates + r * g4, b, c + r * hid, c_new + r * hid, h_new + r * hid, hid);
    });
}

template <typename T>
void lstm_cell_backward(const T* x, const T* h, const T* c, const T* w_ih, const T* w_hh,
                        const T* gates, const T* grad_h, const T* grad_c, T* dx, T* dh, T* dc,
                        T* dw_ih, T* dw_hh, T* db, const LstmShape& s) {
    const int64_t n = s.n, in = s.in, hid = s.hid, g4 = 4 * s.hid;
    // hid == 0 still needs dx = 0 (an empty sum): the GEMMs zero-fill for k == 0.
    AlignedBuffer<T> dbuf(static_cast<std::size_t>(n * g4));
    T* d = dbuf.ptr;
    parallel_ranges(n, min_rows(hid), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r)
            backward_row(gates + r * g4, c + r * hid, grad_h + r * hid, grad_c + r * hid,
                         d + r * g4, dc + r * hid, hid);
    });
    const int nt = num_threads();
    gemm(GemmArgs<T>{n, in, g4, d, g4, false, w_ih, in, false, dx, in, false}, nt);
    gemm(GemmArgs<T>{n, hid, g4, d, g4, false, w_hh, hid, false, dh, hid, false}, nt);
    gemm(GemmArgs<T>{g4, in, n, d, g4, true, x, in, false, dw_ih, in, false}, nt);
    gemm(GemmArgs<T>{g4, hid, n, d, g4, true, h, hid, false, dw_hh, hid, false}, nt);
    add_rows(d, db, n, g4);
}

#define TC_INSTANTIATE(T)                                                                     \
    template void lstm_cell_forward<T>(const T*, const T*, const T*, const T*, const T*,     \
                                       const T*, T*, T*, T*, const LstmShape&);              \
    template void lstm_cell_backward<T>(const T*, const T*, const T*, const T*, const T*,    \
                                        const T*, const T*, const T*, T*, T*, T*, T*, T*, T*, \
                                        const LstmShape&);
TC_INSTANTIATE(float)
TC_INSTANTIATE(double)
#undef TC_INSTANTIATE

}  // namespace tc

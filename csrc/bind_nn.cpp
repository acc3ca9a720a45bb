// Bindings of the convolution, pooling and LSTM-cell kernels (csrc/conv.cpp, pool.cpp, lstm.cpp)
// into tensorcore._C, with the same contract as the other entries (see csrc/module.cpp): compact
// float32 / float64 numpy arrays of one dtype plus plain ints, every size and argument validated
// here before any kernel loop runs (errors name the op and show the shapes), outputs allocated
// here, kernels run with the GIL released. Signatures and return conventions are those of
// tensorcore/backends/reference.py.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "check.h"
#include "conv.h"
#include "lstm.h"
#include "parallel.h"
#include "pool.h"

namespace py = pybind11;

namespace tc {

using Pair = std::array<int64_t, 2>;

namespace {

// Spatial arguments are kept far below int64 overflow in every size formula.
constexpr int64_t kMaxArg = std::numeric_limits<int32_t>::max();

std::string pair_str(const Pair& p) {
    return "(" + std::to_string(p[0]) + ", " + std::to_string(p[1]) + ")";
}

void check_pair(const std::string& op, const char* name, const Pair& p, int64_t low) {
    if (p[0] < low || p[1] < low || p[0] > kMaxArg || p[1] > kMaxArg) {
        throw py::value_error(op + ": " + name + " must be a pair of ints in [" +
                              std::to_string(low) + ", " + std::to_string(kMaxArg) + "], got " +
                              pair_str(p));
    }
}

// A compact float array of `ndim` dims; returns whether it is float32.
bool float_nd(const std::string& op, const char* name, const py::array& a, py::ssize_t ndim,
              const char* layout) {
    if (a.ndim() != ndim) {
        throw py::value_error(op + ": " + name + " must be " + std::to_string(ndim) + "-D " +
                              layout + ", got shape " + shape_str(a));
    }
    const bool f32 = require_float(op, name, a);
    require_compact(op, name, a);
    return f32;
}

void same_dtype(const std::string& op, const char* a_name, const py::array& a, const char* b_name,
                const py::array& b) {
    if (!a.dtype().equal(b.dtype())) {
        throw py::type_error(op + ": dtypes differ: " + a_name + " is " + dtype_str(a) + ", " +
                             b_name + " is " + dtype_str(b));
    }
}

void require_shape(const std::string& op, const char* name, const py::array& a,
                   const std::vector<py::ssize_t>& shape, const std::string& why) {
    if (a.ndim() != static_cast<py::ssize_t>(shape.size()) ||
        !std::equal(shape.begin(), shape.end(), a.shape())) {
        throw py::value_error(op + ": expected " + name + " of shape " +
                              tuple_str(shape.data(), static_cast<py::ssize_t>(shape.size())) +
                              " " + why + ", got " + shape_str(a));
    }
}

// Output size along one axis, or ValueError when the (dilated) kernel does not fit.
int64_t out_size(const std::string& op, const char* axis, int64_t size, int64_t k, int64_t stride,
                 int64_t pad, int64_t dilation) {
    int64_t extent = 0;
    if (!mul_fits(dilation, k - 1, &extent) || extent + 1 > size + 2 * pad) {
        throw py::value_error(op + ": the kernel " + axis + " extent " +
                              (extent ? std::to_string(extent + 1) : std::to_string(k)) +
                              " (kernel " + std::to_string(k) + ", dilation " +
                              std::to_string(dilation) + ") is larger than the padded input " +
                              axis + " " + std::to_string(size + 2 * pad));
    }
    return (size + 2 * pad - extent - 1) / stride + 1;
}

// Product of sizes, or ValueError naming what is too large.
int64_t checked_product(const std::string& op, const char* what, std::initializer_list<int64_t> v,
                        int64_t itemsize) {
    int64_t p = 1;
    for (int64_t x : v) {
        if (!mul_fits(p, x, &p)) p = -1;
        if (p < 0) break;
    }
    int64_t bytes = 0;
    if (p < 0 || !mul_fits(p, itemsize, &bytes) ||
        bytes > static_cast<int64_t>(std::numeric_limits<py::ssize_t>::max()) / 4) {
        throw py::value_error(op + ": " + what + " has too many elements to allocate");
    }
    return p;
}

template <typename T>
py::array_t<T> new_array(std::initializer_list<int64_t> shape) {
    return py::array_t<T>(std::vector<py::ssize_t>(shape.begin(), shape.end()));
}

template <typename T>
const T* cptr(const py::array& a) {
    return static_cast<const T*>(a.data());
}

// ------------------------------------------------------------------------------------ conv2d

struct ConvCall {
    ConvShape s;
    bool f32;
};

ConvCall conv_check(const std::string& op, const py::array& x, const py::array& w,
                    const Pair& stride, const Pair& padding, const Pair& dilation, int64_t groups) {
    const bool f32 = float_nd(op, "x", x, 4, "(N, C, H, W)");
    float_nd(op, "w", w, 4, "(O, C / groups, KH, KW)");
    same_dtype(op, "x", x, "w", w);
    check_pair(op, "stride", stride, 1);
    check_pair(op, "padding", padding, 0);
    check_pair(op, "dilation", dilation, 1);
    ConvShape s{};
    s.n = x.shape(0), s.c = x.shape(1), s.h = x.shape(2), s.w = x.shape(3);
    s.o = w.shape(0), s.kh = w.shape(2), s.kw = w.shape(3);
    if (groups < 1 || groups > kMaxArg) {
        throw py::value_error(op + ": groups must be a positive int, got " +
                              std::to_string(groups));
    }
    s.groups = groups;
    if (s.o % groups) {
        throw py::value_error(op + ": out_channels " + std::to_string(s.o) + " (w is " +
                              shape_str(w) + ") is not divisible by groups " +
                              std::to_string(groups));
    }
    if (s.c != w.shape(1) * groups) {
        throw py::value_error(op + ": x is " + shape_str(x) + " with " + std::to_string(s.c) +
                              " channels but w is " + shape_str(w) + " with groups " +
                              std::to_string(groups) + ", which expects " +
                              std::to_string(w.shape(1) * groups));
    }
    if (s.kh < 1 || s.kw < 1) {
        throw py::value_error(op + ": empty kernel: w is " + shape_str(w));
    }
    s.sh = stride[0], s.sw = stride[1], s.ph = padding[0], s.pw = padding[1];
    s.dh = dilation[0], s.dw = dilation[1];
    s.oh = out_size(op, "height", s.h, s.kh, s.sh, s.ph, s.dh);
    s.ow = out_size(op, "width", s.w, s.kw, s.sw, s.pw, s.dw);
    const int64_t item = f32 ? 4 : 8;
    checked_product(op, "the output", {s.n, s.o, s.oh, s.ow}, item);
    // Per-thread column matrix (K x P) and the thread count's worth of them.
    checked_product(op, "the column matrix", {s.kdim(), s.oh, s.ow, num_threads()}, item);
    return {s, f32};
}

py::array conv2d(const py::handle& x_obj, const py::handle& w_obj, const Pair& stride,
                 const Pair& padding, const Pair& dilation, int64_t groups) {
    const std::string op = "tensorcore._C.conv2d";
    const py::array x = require_array(op, "x", x_obj);
    const py::array w = require_array(op, "w", w_obj);
    const ConvCall call = conv_check(op, x, w, stride, padding, dilation, groups);
    const ConvShape s = call.s;
    auto run = [&](auto zero) -> py::array {
        using T = decltype(zero);
        auto y = new_array<T>({s.n, s.o, s.oh, s.ow});
        T* py_ = y.mutable_data();
        py::gil_scoped_release nogil;
        conv2d_forward<T>(cptr<T>(x), cptr<T>(w), py_, s);
        return y;
    };
    return call.f32 ? run(0.0f) : run(0.0);
}

py::tuple conv2d_backward(const py::handle& x_obj, const py::handle& w_obj,
                          const py::handle& gy_obj, const Pair& stride, const Pair& padding,
                          const Pair& dilation, int64_t groups, bool need_x, bool need_w) {
    const std::string op = "tensorcore._C.conv2d_backward";
    const py::array x = require_array(op, "x", x_obj);
    const py::array w = require_array(op, "w", w_obj);
    const py::array gy = require_array(op, "grad_y", gy_obj);
    const ConvCall call = conv_check(op, x, w, stride, padding, dilation, groups);
    const ConvShape s = call.s;
    float_nd(op, "grad_y", gy, 4, "(N, O, OH, OW)");
    same_dtype(op, "x", x, "grad_y", gy);
    require_shape(op, "grad_y", gy, {s.n, s.o, s.oh, s.ow},
                  "for x " + shape_str(x) + " and w " + shape_str(w));
    auto run = [&](auto zero) -> py::tuple {
        using T = decltype(zero);
        py::object gx = py::none(), gw = py::none();
        T *pgx = nullptr, *pgw = nullptr;
        if (need_x) {
            auto a = new_array<T>({s.n, s.c, s.h, s.w});
            pgx = a.mutable_data();
            gx = a;
        }
        if (need_w) {
            auto a = new_array<T>({s.o, s.cg(), s.kh, s.kw});
            pgw = a.mutable_data();
            gw = a;
        }
        {
            py::gil_scoped_release nogil;
            if (pgx) conv2d_backward_input<T>(cptr<T>(w), cptr<T>(gy), pgx, s);
            if (pgw) conv2d_backward_weight<T>(cptr<T>(x), cptr<T>(gy), pgw, s);
        }
        return py::make_tuple(gx, gw);
    };
    return call.f32 ? run(0.0f) : run(0.0);
}

// ------------------------------------------------------------------------------------ pooling

PoolShape pool_check(const std::string& op, int64_t n, int64_t c, int64_t h, int64_t w,
                     const Pair& kernel, const Pair& stride, const Pair& padding) {
    check_pair(op, "kernel", kernel, 1);
    check_pair(op, "stride", stride, 1);
    check_pair(op, "padding", padding, 0);
    if (2 * padding[0] > kernel[0] || 2 * padding[1] > kernel[1]) {
        throw py::value_error(op + ": padding " + pair_str(padding) +
                              " should be at most half of the kernel size " + pair_str(kernel));
    }
    PoolShape s{};
    s.planes = n * c, s.h = h, s.w = w;
    s.kh = kernel[0], s.kw = kernel[1], s.sh = stride[0], s.sw = stride[1];
    s.ph = padding[0], s.pw = padding[1];
    s.oh = out_size(op, "height", h, s.kh, s.sh, s.ph, 1);
    s.ow = out_size(op, "width", w, s.kw, s.sw, s.pw, 1);
    return s;
}

std::array<int64_t, 4> x_shape_check(const std::string& op, const std::array<int64_t, 4>& xs,
                                     const py::array& gy) {
    for (int64_t d : xs) {
        if (d < 0) {
            throw py::value_error(op + ": x_shape must hold non-negative sizes, got " +
                                  tuple_str(reinterpret_cast<const py::ssize_t*>(xs.data()), 4));
        }
    }
    if (xs[0] != gy.shape(0) || xs[1] != gy.shape(1)) {
        throw py::value_error(op + ": grad_y is " + shape_str(gy) + " but x_shape is " +
                              tuple_str(reinterpret_cast<const py::ssize_t*>(xs.data()), 4) +
                              " (N and C must match)");
    }
    return xs;
}

py::tuple max_pool2d(const py::handle& x_obj, const Pair& kernel, const Pair& stride,
                     const Pair& padding) {
    const std::string op = "tensorcore._C.max_pool2d";
    const py::array x = require_array(op, "x", x_obj);
    const bool f32 = float_nd(op, "x", x, 4, "(N, C, H, W)");
    const int64_t n = x.shape(0), c = x.shape(1);
    const PoolShape s = pool_check(op, n, c, x.shape(2), x.shape(3), kernel, stride, padding);
    auto run = [&](auto zero) -> py::tuple {
        using T = decltype(zero);
        auto y = new_array<T>({n, c, s.oh, s.ow});
        auto idx = new_array<int64_t>({n, c, s.oh, s.ow});
        T* py_ = y.mutable_data();
        int64_t* pi = idx.mutable_data();
        {
            py::gil_scoped_release nogil;
            max_pool_forward<T>(cptr<T>(x), py_, pi, s);
        }
        return py::make_tuple(y, idx);
    };
    return f32 ? run(0.0f) : run(0.0);
}

py::array max_pool2d_backward(const py::handle& gy_obj, const py::handle& idx_obj,
                              const std::array<int64_t, 4>& x_shape) {
    const std::string op = "tensorcore._C.max_pool2d_backward";
    const py::array gy = require_array(op, "grad_y", gy_obj);
    const py::array idx = require_array(op, "index", idx_obj);
    const bool f32 = float_nd(op, "grad_y", gy, 4, "(N, C, OH, OW)");
    if (!idx.dtype().equal(py::dtype::of<int64_t>())) {
        throw py::type_error(op + ": index must be native int64, got " + dtype_str(idx));
    }
    require_shape(op, "index", idx, std::vector<py::ssize_t>(gy.shape(), gy.shape() + 4),
                  "(the shape of grad_y)");
    require_compact(op, "index", idx);
    const auto xs = x_shape_check(op, x_shape, gy);
    const int64_t planes = xs[0] * xs[1], hw = xs[2] * xs[3], ohw = gy.shape(2) * gy.shape(3);
    checked_product(op, "grad_x", {xs[0], xs[1], xs[2], xs[3]}, f32 ? 4 : 8);
    const int64_t* pi = static_cast<const int64_t*>(idx.data());
    int64_t bad;
    {
        py::gil_scoped_release nogil;
        bad = max_pool_first_bad_index(pi, planes * ohw, hw);
    }
    if (bad >= 0) {
        throw py::index_error(op + ": index.flat[" + std::to_string(bad) + "] = " +
                              std::to_string(pi[bad]) + " is outside its input plane of " +
                              std::to_string(xs[2]) + " x " + std::to_string(xs[3]) + " elements");
    }
    auto run = [&](auto zero) -> py::array {
        using T = decltype(zero);
        auto gx = new_array<T>({xs[0], xs[1], xs[2], xs[3]});
        T* pgx = gx.mutable_data();
        py::gil_scoped_release nogil;
        max_pool_backward<T>(cptr<T>(gy), pi, pgx, planes, ohw, hw);
        return gx;
    };
    return f32 ? run(0.0f) : run(0.0);
}

py::array avg_pool2d(const py::handle& x_obj, const Pair& kernel, const Pair& stride,
                     const Pair& padding, bool count_include_pad) {
    const std::string op = "tensorcore._C.avg_pool2d";
    const py::array x = require_array(op, "x", x_obj);
    const bool f32 = float_nd(op, "x", x, 4, "(N, C, H, W)");
    const int64_t n = x.shape(0), c = x.shape(1);
    const PoolShape s = pool_check(op, n, c, x.shape(2), x.shape(3), kernel, stride, padding);
    auto run = [&](auto zero) -> py::array {
        using T = decltype(zero);
        auto y = new_array<T>({n, c, s.oh, s.ow});
        T* py_ = y.mutable_data();
        py::gil_scoped_release nogil;
        avg_pool_forward<T>(cptr<T>(x), py_, s, count_include_pad);
        return y;
    };
    return f32 ? run(0.0f) : run(0.0);
}

py::array avg_pool2d_backward(const py::handle& gy_obj, const std::array<int64_t, 4>& x_shape,
                              const Pair& kernel, const Pair& stride, const Pair& padding,
                              bool count_include_pad) {
    const std::string op = "tensorcore._C.avg_pool2d_backward";
    const py::array gy = require_array(op, "grad_y", gy_obj);
    const bool f32 = float_nd(op, "grad_y", gy, 4, "(N, C, OH, OW)");
    const auto xs = x_shape_check(op, x_shape, gy);
    const PoolShape s = pool_check(op, xs[0], xs[1], xs[2], xs[3], kernel, stride, padding);
    require_shape(op, "grad_y", gy, {xs[0], xs[1], s.oh, s.ow},
                  "for x_shape " + tuple_str(reinterpret_cast<const py::ssize_t*>(xs.data()), 4) +
                      ", kernel " + pair_str(kernel) + ", stride " + pair_str(stride) +
                      " and padding " + pair_str(padding));
    checked_product(op, "grad_x", {xs[0], xs[1], xs[2], xs[3]}, f32 ? 4 : 8);
    auto run = [&](auto zero) -> py::array {
        using T = decltype(zero);
        auto gx = new_array<T>({xs[0], xs[1], xs[2], xs[3]});
        T* pgx = gx.mutable_data();
        py::gil_scoped_release nogil;
        avg_pool_backward<T>(cptr<T>(gy), pgx, s, count_include_pad);
        return gx;
    };
    return f32 ? run(0.0f) : run(0.0);
}

// ------------------------------------------------------------------------------------ LSTM cell

struct LstmCall {
    LstmShape s;
    bool f32;
};

// x (N, I), h and c (N, H), w_ih (4H, I), w_hh (4H, H): all compact, one float dtype.
LstmCall lstm_check(const std::string& op, const py::array& x, const py::array& h,
                    const py::array& c, const py::array& w_ih, const py::array& w_hh) {
    const bool f32 = float_nd(op, "x", x, 2, "(N, input_size)");
    float_nd(op, "w_ih", w_ih, 2, "(4 * hidden, input_size)");
    if (w_ih.shape(0) % 4) {
        throw py::value_error(op + ": w_ih must be (4 * hidden, input_size), got " +
                              shape_str(w_ih));
    }
    LstmShape s{x.shape(0), x.shape(1), w_ih.shape(0) / 4};
    const std::string why = "for x " + shape_str(x) + " and w_ih " + shape_str(w_ih);
    require_shape(op, "w_ih", w_ih, {4 * s.hid, s.in}, why);
    for (auto [name, a] : {std::pair<const char*, const py::array*>{"h", &h}, {"c", &c}}) {
        same_dtype(op, "x", x, name, *a);
        require_shape(op, name, *a, {s.n, s.hid}, why);
        require_compact(op, name, *a);
    }
    same_dtype(op, "x", x, "w_ih", w_ih);
    same_dtype(op, "x", x, "w_hh", w_hh);
    require_shape(op, "w_hh", w_hh, {4 * s.hid, s.hid}, why);
    require_compact(op, "w_hh", w_hh);
    checked_product(op, "the gates", {s.n, 4 * s.hid}, f32 ? 4 : 8);
    return {s, f32};
}

py::tuple lstm_forward_binding(const py::handle& x_obj, const py::handle& h_obj,
                               const py::handle& c_obj, const py::handle& wi_obj,
                               const py::handle& wh_obj, const py::handle& b_obj) {
    const std::string op = "tensorcore._C.lstm_cell";
    const py::array x = require_array(op, "x", x_obj), h = require_array(op, "h", h_obj),
                    c = require_array(op, "c", c_obj), wi = require_array(op, "w_ih", wi_obj),
                    wh = require_array(op, "w_hh", wh_obj), b = require_array(op, "b", b_obj);
    const LstmCall call = lstm_check(op, x, h, c, wi, wh);
    const LstmShape s = call.s;
    same_dtype(op, "x", x, "b", b);
    require_shape(op, "b", b, {4 * s.hid}, "for w_ih " + shape_str(wi));
    require_compact(op, "b", b);
    auto run = [&](auto zero) -> py::tuple {
        using T = decltype(zero);
        auto hn = new_array<T>({s.n, s.hid});
        auto cn = new_array<T>({s.n, s.hid});
        auto gates = new_array<T>({s.n, 4 * s.hid});
        T *phn = hn.mutable_data(), *pcn = cn.mutable_data(), *pg = gates.mutable_data();
        {
            py::gil_scoped_release nogil;
            lstm_cell_forward<T>(cptr<T>(x), cptr<T>(h), cptr<T>(c), cptr<T>(wi), cptr<T>(wh),
                                 cptr<T>(b), phn, pcn, pg, s);
        }
        return py::make_tuple(hn, cn, gates);
    };
    return call.f32 ? run(0.0f) : run(0.0);
}

py::tuple lstm_backward_binding(const py::handle& x_obj, const py::handle& h_obj,
                             const py::handle& c_obj, const py::handle& wi_obj,
                             const py::handle& wh_obj, const py::handle& g_obj,
                             const py::handle& gh_obj, const py::handle& gc_obj) {
    const std::string op = "tensorcore._C.lstm_cell_backward";
    const py::array x = require_array(op, "x", x_obj), h = require_array(op, "h", h_obj),
                    c = require_array(op, "c", c_obj), wi = require_array(op, "w_ih", wi_obj),
                    wh = require_array(op, "w_hh", wh_obj),
                    gates = require_array(op, "gates", g_obj),
                    gh = require_array(op, "grad_h", gh_obj),
                    gc = require_array(op, "grad_c", gc_obj);
    const LstmCall call = lstm_check(op, x, h, c, wi, wh);
    const LstmShape s = call.s;
    const std::string why = "for x " + shape_str(x) + " and w_ih " + shape_str(wi);
    same_dtype(op, "x", x, "gates", gates);
    require_shape(op, "gates", gates, {s.n, 4 * s.hid}, why);
    require_compact(op, "gates", gates);
    using Named = std::pair<const char*, const py::array*>;
    for (auto [name, a] : {Named{"grad_h", &gh}, Named{"grad_c", &gc}}) {
        same_dtype(op, "x", x, name, *a);
        require_shape(op, name, *a, {s.n, s.hid}, why);
        require_compact(op, name, *a);
    }
    auto run = [&](auto zero) -> py::tuple {
        using T = decltype(zero);
        auto dx = new_array<T>({s.n, s.in});
        auto dh = new_array<T>({s.n, s.hid});
        auto dc = new_array<T>({s.n, s.hid});
        auto dwi = new_array<T>({4 * s.hid, s.in});
        auto dwh = new_array<T>({4 * s.hid, s.hid});
        auto db = new_array<T>({4 * s.hid});
        T *pdx = dx.mutable_data(), *pdh = dh.mutable_data(), *pdc = dc.mutable_data(),
          *pdwi = dwi.mutable_data(), *pdwh = dwh.mutable_data(), *pdb = db.mutable_data();
        {
            py::gil_scoped_release nogil;
            lstm_cell_backward<T>(cptr<T>(x), cptr<T>(h), cptr<T>(c), cptr<T>(wi),
                                      cptr<T>(wh), cptr<T>(gates), cptr<T>(gh), cptr<T>(gc), pdx,
                                      pdh, pdc, pdwi, pdwh, pdb, s);
        }
        return py::make_tuple(dx, dh, dc, dwi, dwh, db);
    };
    return call.f32 ? run(0.0f) : run(0.0);
}

}  // namespace

void bind_nn(py::module_& m) {
    m.def("conv2d", &conv2d, py::arg("x"), py::arg("w"), py::arg("stride"), py::arg("padding"),
          py::arg("dilation"), py::arg("groups"),
          "conv2d(x (N, C, H, W), w (O, C/groups, KH, KW), stride, padding, dilation, groups) -> "
          "y (N, O, OH, OW): cross-correlation without bias, im2col per image + packed GEMM.");
    m.def("conv2d_backward", &conv2d_backward, py::arg("x"), py::arg("w"), py::arg("grad_y"),
          py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"),
          py::arg("need_x"), py::arg("need_w"),
          "-> (grad_x or None, grad_w or None), the gradients of conv2d.");
    m.def("max_pool2d", &max_pool2d, py::arg("x"), py::arg("kernel"), py::arg("stride"),
          py::arg("padding"),
          "-> (y, index): window maxima and their int64 flat offsets h*W + w in the input plane "
          "(first maximum in row-major window order; a NaN is the maximum).");
    m.def("max_pool2d_backward", &max_pool2d_backward, py::arg("grad_y"), py::arg("index"),
          py::arg("x_shape"),
          "Scatter-add of grad_y through index into zeros of x_shape. IndexError for an index "
          "outside its plane.");
    m.def("avg_pool2d", &avg_pool2d, py::arg("x"), py::arg("kernel"), py::arg("stride"),
          py::arg("padding"), py::arg("count_include_pad"), "Window means of zero-padded x.");
    m.def("avg_pool2d_backward", &avg_pool2d_backward, py::arg("grad_y"), py::arg("x_shape"),
          py::arg("kernel"), py::arg("stride"), py::arg("padding"), py::arg("count_include_pad"),
          "Each grad_y / divisor spread evenly over its window.");
    m.def("lstm_cell", &lstm_forward_binding, py::arg("x"), py::arg("h"), py::arg("c"),
          py::arg("w_ih"), py::arg("w_hh"), py::arg("b"),
          "-> (h', c', gates): one fused LSTM step (gate order i, f, g, o; b = b_ih + b_hh); "
          "gates are the activated gates (N, 4H) for lstm_cell_backward.");
    m.def("lstm_cell_backward", &lstm_backward_binding, py::arg("x"), py::arg("h"), py::arg("c"),
          py::arg("w_ih"), py::arg("w_hh"), py::arg("gates"), py::arg("grad_h"),
          py::arg("grad_c"), "-> (dx, dh, dc, dw_ih, dw_hh, db).");
}

}  // namespace tc

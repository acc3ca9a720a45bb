// The pybind11 module tensorcore._C: the C++ CPU kernels.
//
// Contract (see tensorcore/backends/reference.py): kernels take compact (C-contiguous, aligned)
// numpy arrays of one dtype, validate everything before computing, allocate their output, and
// run with the GIL released. The Python glue in tensorcore/backends/cpp.py compacts and reshapes.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "check.h"
#include "cpu_features.h"
#include "elementwise.h"
#include "matmul.h"
#include "parallel.h"
#include "softmax.h"

namespace py = pybind11;

namespace tc {
void bind_nn(py::module_& m);  // csrc/bind_nn.cpp: convolution, pooling, LSTM cell
void bind_optim(py::module_& m);  // csrc/optim.cpp: fused optimizer steps
}

namespace {

const std::string kMatmul = "tensorcore._C.matmul";

// one_row: the backend entry (not a named ladder rung) sends single-row products to tc::gemm, whose
// GEMV path streams B once instead of packing it for one row of output.
template <typename T>
py::array matmul_typed(const py::array& a, const py::array& b, int64_t batch, int64_t m, int64_t n,
                       int64_t k, tc::MatmulVariant variant, bool one_row) {
    std::vector<py::ssize_t> shape;
    if (a.ndim() == 3) shape.push_back(batch);
    shape.push_back(m);
    shape.push_back(n);
    py::array_t<T> out(shape);
    const T* pa = static_cast<const T*>(a.data());
    const T* pb = static_cast<const T*>(b.data());
    T* pc = out.mutable_data();
    {
        py::gil_scoped_release nogil;
        if (one_row && m == 1) {
            for (int64_t z = 0; z < batch; ++z) {
                const tc::GemmArgs<T> g{1, n, k, pa + z * k, k, false, pb + z * k * n, n, false, pc + z * n, n, false};
                tc::gemm<T>(g, tc::num_threads());
            }
        } else {
            tc::matmul_batched<T>(pa, pb, pc, batch, m, n, k, variant);
        }
    }
    return out;
}

py::array matmul_impl(const std::string& op, const py::handle& a_obj, const py::handle& b_obj,
                      tc::MatmulVariant variant, bool one_row) {
    const py::array a = tc::require_array(op, "a", a_obj);
    const py::array b = tc::require_array(op, "b", b_obj);

    const auto both = [&] { return "a is " + tc::shape_str(a) + ", b is " + tc::shape_str(b); };
    if (a.ndim() != b.ndim() || (a.ndim() != 2 && a.ndim() != 3)) {
        throw py::value_error(op + ": expected 2-D (M, K) @ (K, N) or 3-D (B, M, K) @ (B, K, N)"
                              " arrays of equal ndim, got " + both());
    }
    const bool batched = a.ndim() == 3;
    const int64_t batch = batched ? a.shape(0) : 1;
    if (batched && b.shape(0) != batch) {
        throw py::value_error(op + ": batch dimensions differ: " + both());
    }
    const int off = batched ? 1 : 0;
    const int64_t m = a.shape(off), k = a.shape(off + 1), n = b.shape(off + 1);
    if (b.shape(off) != k) {
        throw py::value_error(op + ": inner dimensions differ: " + both());
    }

    const bool is_f32 = a.dtype().equal(py::dtype::of<float>());
    const bool is_f64 = a.dtype().equal(py::dtype::of<double>());
    if (!a.dtype().equal(b.dtype())) {
        throw py::type_error(op + ": dtypes differ: a is " + tc::dtype_str(a) + ", b is " +
                             tc::dtype_str(b));
    }
    if (!is_f32 && !is_f64) {
        throw py::type_error(op + ": unsupported dtype " + tc::dtype_str(a) +
                             " (expected native float32 or float64)");
    }
    tc::require_compact(op, "a", a);
    tc::require_compact(op, "b", b);

    // Inputs exist, so their sizes fit; the output's need not (e.g. (2**40, 0) @ (0, 2**40)).
    int64_t elems = 0, bytes = 0;
    if (!tc::mul_fits(batch, m, &elems) || !tc::mul_fits(elems, n, &elems) ||
        !tc::mul_fits(elems, static_cast<int64_t>(a.itemsize()), &bytes) ||
        bytes > static_cast<int64_t>(std::numeric_limits<py::ssize_t>::max())) {
        throw py::value_error(op + ": the output of " + both() +
                              " has too many elements to allocate");
    }

    return is_f32 ? matmul_typed<float>(a, b, batch, m, n, k, variant, one_row)
                  : matmul_typed<double>(a, b, batch, m, n, k, variant, one_row);
}

py::array matmul(const py::handle& a, const py::handle& b) {
    static const tc::MatmulVariant best = tc::best_matmul_variant();
    return matmul_impl(kMatmul, a, b, best, true);
}

py::array matmul_variant(const py::handle& a, const py::handle& b, const std::string& name) {
    const std::string op = "tensorcore._C.matmul_variant";
    tc::MatmulVariant variant;
    if (!tc::variant_from_name(name, &variant)) {
        throw py::value_error(op + ": unknown variant '" + name +
                              "' (expected naive, blocked, packed, packed_avx2 or packed_avx512)");
    }
    if (!tc::variant_available(variant)) {
        throw py::value_error(op + ": variant '" + name + "' needs instructions this CPU lacks "
                              "(see tensorcore._C.cpu_features())");
    }
    return matmul_impl(op, a, b, variant, false);
}

// op(a) @ op(b) for 2-D C-contiguous a, b, op = transpose when the flag is set: the transpose
// is folded into the packing, so a transposed view (a Fortran-ordered array) needs no copy.
py::array gemm_2d(const py::handle& a_obj, const py::handle& b_obj, bool trans_a, bool trans_b) {
    const std::string op = "tensorcore._C.gemm";
    const py::array a = tc::require_array(op, "a", a_obj);
    const py::array b = tc::require_array(op, "b", b_obj);
    const auto both = [&] {
        return "a is " + tc::shape_str(a) + (trans_a ? " (transposed)" : "") + ", b is " +
               tc::shape_str(b) + (trans_b ? " (transposed)" : "");
    };
    if (a.ndim() != 2 || b.ndim() != 2) {
        throw py::value_error(op + ": expected 2-D arrays, got " + both());
    }
    const int64_t m = trans_a ? a.shape(1) : a.shape(0), k = trans_a ? a.shape(0) : a.shape(1);
    const int64_t kb = trans_b ? b.shape(1) : b.shape(0), n = trans_b ? b.shape(0) : b.shape(1);
    if (k != kb) throw py::value_error(op + ": inner dimensions differ: " + both());
    if (!a.dtype().equal(b.dtype())) {
        throw py::type_error(op + ": dtypes differ: a is " + tc::dtype_str(a) + ", b is " +
                             tc::dtype_str(b));
    }
    const bool f32 = tc::require_float(op, "a", a);
    tc::require_compact(op, "a", a);
    tc::require_compact(op, "b", b);
    int64_t elems = 0, bytes = 0;
    if (!tc::mul_fits(m, n, &elems) ||
        !tc::mul_fits(elems, static_cast<int64_t>(a.itemsize()), &bytes) ||
        bytes > static_cast<int64_t>(std::numeric_limits<py::ssize_t>::max())) {
        throw py::value_error(op + ": the output of " + both() +
                              " has too many elements to allocate");
    }
    const auto run = [&](auto zero) -> py::array {
        using T = decltype(zero);
        py::array_t<T> out(std::vector<py::ssize_t>{m, n});
        const tc::GemmArgs<T> g{m, n, k, static_cast<const T*>(a.data()), a.shape(1), trans_a,
                                static_cast<const T*>(b.data()), b.shape(1), trans_b,
                                out.mutable_data(), n, false};
        py::gil_scoped_release nogil;
        tc::gemm<T>(g, tc::num_threads());
        return out;
    };
    return f32 ? run(0.0f) : run(0.0);
}

// ------------------------------------------------------------------------------------ row ops

// A new C-contiguous array with a's shape and dtype T.
template <typename T>
py::array_t<T> empty_like(const py::array& a) {
    return py::array_t<T>(std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim()));
}

// x as rows of its last axis: (rows, cols). ValueError for 0-d input.
std::pair<int64_t, int64_t> rows_cols(const std::string& op, const char* name, const py::array& x) {
    if (x.ndim() < 1) {
        throw py::value_error(op + ": " + name + " must have at least 1 dimension (the softmax "
                              "axis is the last), got shape " + tc::shape_str(x));
    }
    const int64_t cols = x.shape(x.ndim() - 1);
    int64_t rows = 1;
    for (py::ssize_t d = 0; d + 1 < x.ndim(); ++d) rows *= x.shape(d);
    return {rows, cols};
}

// Validated input: an aligned C-contiguous float array; returns whether it is float32.
bool float_input(const std::string& op, const char* name, const py::array& a) {
    const bool f32 = tc::require_float(op, name, a);
    tc::require_compact(op, name, a);
    return f32;
}

py::array softmax_fwd(const py::handle& x_obj, bool log) {
    const std::string op = log ? "tensorcore._C.log_softmax" : "tensorcore._C.softmax";
    const py::array x = tc::require_array(op, "x", x_obj);
    const auto [rows, cols] = rows_cols(op, "x", x);
    const auto run = [&](auto zero) -> py::array {
        using T = decltype(zero);
        auto y = empty_like<T>(x);
        const T* px = static_cast<const T*>(x.data());
        T* py_ = y.mutable_data();
        py::gil_scoped_release nogil;
        tc::softmax_forward<T>(px, py_, rows, cols, log);
        return y;
    };
    return float_input(op, "x", x) ? run(0.0f) : run(0.0);
}

py::array softmax_bwd(const py::handle& y_obj, const py::handle& g_obj, bool log) {
    const std::string op =
        log ? "tensorcore._C.log_softmax_backward" : "tensorcore._C.softmax_backward";
    const py::array y = tc::require_array(op, "y", y_obj);
    const py::array g = tc::require_array(op, "grad_y", g_obj);
    const auto [rows, cols] = rows_cols(op, "y", y);
    tc::require_like(op, "y", y, "grad_y", g);
    const bool f32 = float_input(op, "y", y);
    tc::require_compact(op, "grad_y", g);
    const auto run = [&](auto zero) -> py::array {
        using T = decltype(zero);
        auto dx = empty_like<T>(y);
        const T* py_ = static_cast<const T*>(y.data());
        const T* pg = static_cast<const T*>(g.data());
        T* pd = dx.mutable_data();
        py::gil_scoped_release nogil;
        tc::softmax_backward<T>(py_, pg, pd, rows, cols, log);
        return dx;
    };
    return f32 ? run(0.0f) : run(0.0);
}

// target: (rows,) native int64, C-contiguous, every value in [0, cols). Checked here, before any
// kernel loop, because the kernels use it as an index.
const int64_t* checked_target(const std::string& op, const py::array& logits, const py::handle& obj,
                              int64_t rows, int64_t cols) {
    const py::array t = tc::require_array(op, "target", obj);
    if (!t.dtype().equal(py::dtype::of<int64_t>())) {
        throw py::type_error(op + ": target must be native int64 class indices, got " +
                             tc::dtype_str(t));
    }
    if (t.ndim() != 1 || t.shape(0) != rows) {
        throw py::value_error(op + ": expected target of shape (" + std::to_string(rows) +
                              ",) for logits of shape " + tc::shape_str(logits) + ", got " +
                              tc::shape_str(t));
    }
    tc::require_compact(op, "target", t);
    const int64_t* pt = static_cast<const int64_t*>(t.data());
    for (int64_t r = 0; r < rows; ++r) {
        if (pt[r] < 0 || pt[r] >= cols) {
            throw py::index_error(op + ": target[" + std::to_string(r) + "] = " +
                                  std::to_string(pt[r]) + " is out of range for " +
                                  std::to_string(cols) + " classes");
        }
    }
    return pt;
}

void require_2d(const std::string& op, const char* name, const py::array& a) {
    if (a.ndim() != 2) {
        throw py::value_error(op + ": " + name + " must be 2-D (N, C), got shape " +
                              tc::shape_str(a));
    }
}

py::tuple cross_entropy(const py::handle& x_obj, const py::handle& t_obj) {
    const std::string op = "tensorcore._C.cross_entropy";
    const py::array x = tc::require_array(op, "logits", x_obj);
    require_2d(op, "logits", x);
    const bool f32 = float_input(op, "logits", x);
    const int64_t rows = x.shape(0), cols = x.shape(1);
    const int64_t* pt = checked_target(op, x, t_obj, rows, cols);
    const auto run = [&](auto zero) -> py::tuple {
        using T = decltype(zero);
        py::array_t<T> losses(std::vector<py::ssize_t>{static_cast<py::ssize_t>(rows)});
        auto logp = empty_like<T>(x);
        const T* px = static_cast<const T*>(x.data());
        T* pl = losses.mutable_data();
        T* pp = logp.mutable_data();
        {
            py::gil_scoped_release nogil;
            tc::cross_entropy_forward<T>(px, pt, pl, pp, rows, cols);
        }
        return py::make_tuple(losses, logp);
    };
    return f32 ? run(0.0f) : run(0.0);
}

py::array cross_entropy_bwd(const py::handle& lp_obj, const py::handle& t_obj,
                            const py::handle& g_obj) {
    const std::string op = "tensorcore._C.cross_entropy_backward";
    const py::array lp = tc::require_array(op, "logp", lp_obj);
    const py::array g = tc::require_array(op, "grad_losses", g_obj);
    require_2d(op, "logp", lp);
    const bool f32 = float_input(op, "logp", lp);
    const int64_t rows = lp.shape(0), cols = lp.shape(1);
    if (!g.dtype().equal(lp.dtype())) {
        throw py::type_error(op + ": dtypes differ: logp is " + tc::dtype_str(lp) +
                             ", grad_losses is " + tc::dtype_str(g));
    }
    if (g.ndim() != 1 || g.shape(0) != rows) {
        throw py::value_error(op + ": expected grad_losses of shape (" + std::to_string(rows) +
                              ",) for logp of shape " + tc::shape_str(lp) + ", got " +
                              tc::shape_str(g));
    }
    tc::require_compact(op, "grad_losses", g);
    const int64_t* pt = checked_target(op, lp, t_obj, rows, cols);
    const auto run = [&](auto zero) -> py::array {
        using T = decltype(zero);
        auto dx = empty_like<T>(lp);
        const T* pl = static_cast<const T*>(lp.data());
        const T* pg = static_cast<const T*>(g.data());
        T* pd = dx.mutable_data();
        py::gil_scoped_release nogil;
        tc::cross_entropy_backward<T>(pl, pt, pg, pd, rows, cols);
        return dx;
    };
    return f32 ? run(0.0f) : run(0.0);
}

// ------------------------------------------------------------------------------------ elementwise

py::array relu(const py::handle& x_obj) {
    const std::string op = "tensorcore._C.relu";
    const py::array x = tc::require_array(op, "x", x_obj);
    const auto run = [&](auto zero) -> py::array {
        using T = decltype(zero);
        auto y = empty_like<T>(x);
        const T* px = static_cast<const T*>(x.data());
        T* py_ = y.mutable_data();
        py::gil_scoped_release nogil;
        tc::relu_forward<T>(px, py_, x.size());
        return y;
    };
    return float_input(op, "x", x) ? run(0.0f) : run(0.0);
}

py::array relu_bwd(const py::handle& x_obj, const py::handle& g_obj) {
    const std::string op = "tensorcore._C.relu_backward";
    const py::array x = tc::require_array(op, "x", x_obj);
    const py::array g = tc::require_array(op, "grad_y", g_obj);
    tc::require_like(op, "x", x, "grad_y", g);
    const bool f32 = float_input(op, "x", x);
    tc::require_compact(op, "grad_y", g);
    const auto run = [&](auto zero) -> py::array {
        using T = decltype(zero);
        auto dx = empty_like<T>(x);
        const T* px = static_cast<const T*>(x.data());
        const T* pg = static_cast<const T*>(g.data());
        T* pd = dx.mutable_data();
        py::gil_scoped_release nogil;
        tc::relu_backward<T>(px, pg, pd, x.size());
        return dx;
    };
    return f32 ? run(0.0f) : run(0.0);
}

// a + b for equal shapes, or b of shape (a.shape[-1],) added to every row of a (a bias).
py::array add(const py::handle& a_obj, const py::handle& b_obj) {
    const std::string op = "tensorcore._C.add";
    const py::array a = tc::require_array(op, "a", a_obj);
    const py::array b = tc::require_array(op, "b", b_obj);
    const bool row = a.ndim() >= 2 && b.ndim() == 1 && b.shape(0) == a.shape(a.ndim() - 1);
    if (!row) tc::require_like(op, "a", a, "b", b);  // also compares dtypes
    if (!a.dtype().equal(b.dtype())) {
        throw py::type_error(op + ": dtypes differ: a is " + tc::dtype_str(a) + ", b is " +
                             tc::dtype_str(b));
    }
    const bool f32 = float_input(op, "a", a);
    tc::require_compact(op, "b", b);
    const auto run = [&](auto zero) -> py::array {
        using T = decltype(zero);
        auto y = empty_like<T>(a);
        const T* pa = static_cast<const T*>(a.data());
        const T* pb = static_cast<const T*>(b.data());
        T* out = y.mutable_data();
        const int64_t n = a.size(), cols = b.size();
        py::gil_scoped_release nogil;
        if (row) {
            tc::add_row<T>(pa, pb, out, cols ? n / cols : 0, cols);
        } else {
            tc::add_same<T>(pa, pb, out, n);
        }
        return y;
    };
    return f32 ? run(0.0f) : run(0.0);
}

}  // namespace

PYBIND11_MODULE(_C, mod) {
    mod.doc() = "tensorcore C++ CPU kernels (pybind11). Kernels take C-contiguous numpy arrays, "
                "check their arguments, and release the GIL while they compute.";

    mod.def("matmul", &matmul, py::arg("a"), py::arg("b"),
            R"doc(matmul(a, b) -> numpy.ndarray

(M, K) @ (K, N) -> (M, N), or batched (B, M, K) @ (B, K, N) -> (B, M, N).

a and b: C-contiguous numpy arrays of the same dtype, float32 or float64 (never copied or
converted: a non-contiguous or mismatched input raises). K = 0 gives zeros. BLIS-style packed
matmul with the widest micro-kernel this CPU runs (cpu_features()['matmul']), parallel with
OpenMP, GIL released.

Raises TypeError for non-arrays and dtype problems, ValueError for shape, layout and size problems.)doc");

    mod.def("gemm", &gemm_2d, py::arg("a"), py::arg("b"), py::arg("trans_a") = false,
            py::arg("trans_b") = false,
            R"doc(gemm(a, b, trans_a=False, trans_b=False) -> numpy.ndarray

op(a) @ op(b) for 2-D C-contiguous arrays of one float dtype, op(x) = x.T when its flag is set.
The transpose is folded into the packed matmul's packing (no copy), so a transposed view is
passed as its C-contiguous base with the flag. Same result as matmul on compacted copies.)doc");

    mod.def("matmul_variant", &matmul_variant, py::arg("a"), py::arg("b"), py::arg("variant"),
            R"doc(matmul_variant(a, b, variant) -> numpy.ndarray

matmul(a, b) computed by one named step of the optimisation ladder, for benchmarks and tests:
"naive", "blocked", "packed" (baseline ISA), "packed_avx2", "packed_avx512". Same arguments,
checks and result as matmul (up to rounding); ValueError for an unknown variant or one this CPU
cannot run.)doc");

    mod.def(
        "cpu_features",
        [] {
            py::dict d;
            d["arch"] = tc::kArchName;
            d["avx2_fma"] = tc::cpu_features().avx2_fma;
            d["avx512f"] = tc::cpu_features().avx512f;
            d["matmul"] = tc::variant_name(tc::best_matmul_variant());
            return d;
        },
        "What the run-time dispatch found: {'arch', 'avx2_fma', 'avx512f', 'matmul': the variant "
        "tensorcore._C.matmul runs}.");

    mod.def("softmax", [](const py::handle& x) { return softmax_fwd(x, false); }, py::arg("x"),
            "softmax(x): softmax over the last axis (online max/sum, see csrc/softmax.cpp).");
    mod.def("log_softmax", [](const py::handle& x) { return softmax_fwd(x, true); }, py::arg("x"),
            "log_softmax(x): log-softmax over the last axis.");
    mod.def("softmax_backward",
            [](const py::handle& y, const py::handle& g) { return softmax_bwd(y, g, false); },
            py::arg("y"), py::arg("grad_y"), "dx = y * (dy - sum(dy * y)) over the last axis.");
    mod.def("log_softmax_backward",
            [](const py::handle& y, const py::handle& g) { return softmax_bwd(y, g, true); },
            py::arg("y"), py::arg("grad_y"), "dx = dy - exp(y) * sum(dy) over the last axis.");
    mod.def("cross_entropy", &cross_entropy, py::arg("logits"), py::arg("target"),
            "cross_entropy(logits (N, C), target (N,) int64) -> (losses (N,), logp (N, C)). "
            "IndexError for a target outside [0, C).");
    mod.def("cross_entropy_backward", &cross_entropy_bwd, py::arg("logp"), py::arg("target"),
            py::arg("grad_losses"), "(exp(logp) - onehot(target)) * grad_losses[:, None].");
    mod.def("relu", &relu, py::arg("x"), "max(x, 0), NaN preserved.");
    mod.def("relu_backward", &relu_bwd, py::arg("x"), py::arg("grad_y"), "grad_y * (x > 0).");
    mod.def("add", &add, py::arg("a"), py::arg("b"),
            "a + b for equal shapes, or a (..., C) + b (C,) (bias add).");

    tc::bind_nn(mod);
    tc::bind_optim(mod);

    mod.def(
        "set_num_threads",
        [](int n) {
            if (n < 1) {
                throw py::value_error("tensorcore._C.set_num_threads: n must be >= 1, got " +
                                      std::to_string(n));
            }
            tc::set_num_threads(n);
        },
        py::arg("n"),
        "Threads the C++ kernels may use (process-wide, every Python thread). Without OpenMP "
        "the kernels are single-threaded and this has no effect.");
    mod.def("get_num_threads", &tc::num_threads,
            "Threads the C++ kernels may use (1 in a build without OpenMP).");
    mod.attr("has_openmp") = tc::kHasOpenMP;
}

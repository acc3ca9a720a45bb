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
#include "matmul.h"
#include "parallel.h"

namespace py = pybind11;

namespace {

const std::string kMatmul = "tensorcore._C.matmul";

template <typename T>
py::array matmul_typed(const py::array& a, const py::array& b, int64_t batch, int64_t m, int64_t n,
                       int64_t k, tc::MatmulVariant variant) {
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
        tc::matmul_batched<T>(pa, pb, pc, batch, m, n, k, variant);
    }
    return out;
}

py::array matmul_impl(const std::string& op, const py::handle& a_obj, const py::handle& b_obj,
                      tc::MatmulVariant variant) {
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

    return is_f32 ? matmul_typed<float>(a, b, batch, m, n, k, variant)
                  : matmul_typed<double>(a, b, batch, m, n, k, variant);
}

py::array matmul(const py::handle& a, const py::handle& b) {
    static const tc::MatmulVariant best = tc::best_matmul_variant();
    return matmul_impl(kMatmul, a, b, best);
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
    return matmul_impl(op, a, b, variant);
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

// Argument checks shared by the bindings. Every kernel entry point validates its inputs here,
// before any loop runs, and raises a Python exception that names the op and shows the offending
// shapes / dtypes -- a bad call must never reach a kernel, read out of bounds, or be "fixed" by a
// silent copy that hides the caller's bug.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>

namespace tc {
namespace py = pybind11;

// "(3, 4)", "(5,)", "()": a shape (or strides) the way Python prints a tuple.
inline std::string tuple_str(const py::ssize_t* v, py::ssize_t n) {
    std::string s = "(";
    for (py::ssize_t i = 0; i < n; ++i) {
        if (i) s += ", ";
        s += std::to_string(v[i]);
    }
    return s + (n == 1 ? ",)" : ")");
}

inline std::string shape_str(const py::array& a) { return tuple_str(a.shape(), a.ndim()); }

inline std::string dtype_str(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }

// The argument as a numpy array without converting it; TypeError for anything else.
inline py::array require_array(const std::string& op, const char* name, const py::handle& obj) {
    if (!py::isinstance<py::array>(obj)) {
        throw py::type_error(op + ": " + name + " must be a numpy.ndarray, got " +
                             py::str(py::type::of(obj).attr("__name__")).cast<std::string>());
    }
    return py::reinterpret_borrow<py::array>(obj);
}

// Kernels index raw pointers, so inputs must be C-contiguous and aligned for their dtype. Checked
// from the flags rather than by accepting py::array_t<T, c_style>, which would copy silently.
inline void require_compact(const std::string& op, const char* name, const py::array& a) {
    const int flags = a.flags();
    if (!(flags & py::array::c_style)) {
        throw py::value_error(op + ": " + name + " must be C-contiguous, got shape " +
                              shape_str(a) + " with strides " + tuple_str(a.strides(), a.ndim()) +
                              " (compact it first, e.g. numpy.ascontiguousarray)");
    }
    if (!(flags & py::detail::npy_api::NPY_ARRAY_ALIGNED_)) {
        throw py::value_error(op + ": " + name + " is not aligned for its dtype " + dtype_str(a) +
                              " (copy it first, e.g. numpy.require(x, requirements='CA'))");
    }
}

// Native float32 / float64 (the dtypes the kernels are instantiated for); TypeError otherwise.
// Returns true for float32.
inline bool require_float(const std::string& op, const char* name, const py::array& a) {
    if (a.dtype().equal(py::dtype::of<float>())) return true;
    if (a.dtype().equal(py::dtype::of<double>())) return false;
    throw py::type_error(op + ": unsupported dtype " + dtype_str(a) + " for " + name +
                         " (expected native float32 or float64)");
}

// b has a's dtype (TypeError) and shape (ValueError).
inline void require_like(const std::string& op, const char* a_name, const py::array& a,
                         const char* b_name, const py::array& b) {
    if (!a.dtype().equal(b.dtype())) {
        throw py::type_error(op + ": dtypes differ: " + a_name + " is " + dtype_str(a) + ", " +
                             b_name + " is " + dtype_str(b));
    }
    if (a.ndim() != b.ndim() || !std::equal(a.shape(), a.shape() + a.ndim(), b.shape())) {
        throw py::value_error(op + ": shapes differ: " + a_name + " is " + shape_str(a) + ", " +
                              b_name + " is " + shape_str(b));
    }
}

// x * y for non-negative int64 sizes, or false if it overflows.
inline bool mul_fits(int64_t x, int64_t y, int64_t* out) {
    if (x != 0 && y > std::numeric_limits<int64_t>::max() / x) return false;
    *out = x * y;
    return true;
}

}  // namespace tc

"""Build of the C++ extension ``tensorcore._C`` and the package list.

Project metadata lives in pyproject.toml; this file only holds what needs code:

* The package list. ``kernels/`` at the top of the repository ships as ``tensorcore.kernels``
  (``[tool.setuptools.package-dir]`` in pyproject.toml maps it); setuptools' ``find`` cannot see
  through that mapping, so the ``kernels`` packages are found here and renamed. Nothing installs a
  top-level module named ``kernels``.
* The extension's flags. The default build is portable (``-O3 -fno-math-errno``, no ``-march=native``), so a wheel
  or shared build directory runs on any CPU of the target architecture. ``TENSORCORE_NATIVE_ARCH=1``
  opts in to ``-march=native`` for the build machine. OpenMP is used when the compiler can compile
  *and link* a small OpenMP program; otherwise the extension builds single-threaded.

Build: ``pip install -e .`` (editable) or ``pip install .``.
"""
from __future__ import annotations

import os
import sys
import tempfile

from pybind11.setup_helpers import Pybind11Extension, build_ext
from setuptools import find_packages, setup

_OPENMP_PROBE = """
#include <omp.h>
int main() { return omp_get_max_threads() > 0 ? 0 : 1; }
"""


def _openmp_flags(compiler) -> tuple[list[str], list[str]]:
    """(compile flags, link flags) that enable OpenMP, or two empty lists if the toolchain can't."""
    if compiler.compiler_type == "msvc":
        candidates = [(["/openmp"], [])]
    else:
        candidates = [(["-fopenmp"], ["-fopenmp"])]
        if sys.platform == "darwin":  # Apple clang with Homebrew / MacPorts libomp
            candidates.append((["-Xpreprocessor", "-fopenmp"], ["-lomp"]))
    for cflags, ldflags in candidates:
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "omp_probe.cpp")
            with open(src, "w") as f:
                f.write(_OPENMP_PROBE)
            try:
                objects = compiler.compile([src], output_dir=tmp, extra_postargs=cflags)
                compiler.link_executable(objects, "omp_probe", output_dir=tmp,
                                         extra_postargs=ldflags, target_lang="c++")
            except Exception:  # CompileError / LinkError, spelled differently across setuptools
                continue
        return cflags, ldflags
    return [], []


class BuildExt(build_ext):
    """pybind11's build_ext plus optimisation, optional OpenMP and the opt-in native arch flag."""

    def build_extensions(self) -> None:
        msvc = self.compiler.compiler_type == "msvc"
        # -fno-math-errno: sqrt never sets errno, so loops with sqrt vectorize (the Adam step does;
        # tensorcore never reads errno).
        cflags = ["/O2"] if msvc else ["-O3", "-fno-math-errno"]
        ldflags: list[str] = []
        if os.environ.get("TENSORCORE_NATIVE_ARCH", "0") == "1":
            cflags.append("/arch:AVX2" if msvc else "-march=native")
        omp_c, omp_l = _openmp_flags(self.compiler)
        if not omp_c:
            print("tensorcore: OpenMP not found; building tensorcore._C single-threaded",
                  file=sys.stderr)
        cflags += omp_c
        ldflags += omp_l
        for ext in self.extensions:
            ext.extra_compile_args = list(ext.extra_compile_args or []) + cflags
            ext.extra_link_args = list(ext.extra_link_args or []) + ldflags
        super().build_extensions()


def _packages() -> list[str]:
    packages = find_packages(include=["tensorcore", "tensorcore.*"])
    kernels = ["tensorcore.kernels"] + [f"tensorcore.kernels.{p}" for p in find_packages("kernels")]
    return packages + [p for p in kernels if p not in packages]


_CSRC = "csrc"
ext_modules = [
    Pybind11Extension(
        "tensorcore._C",
        sources=sorted(os.path.join(_CSRC, f) for f in os.listdir(_CSRC) if f.endswith(".cpp")),
        depends=sorted(os.path.join(_CSRC, f) for f in os.listdir(_CSRC) if f.endswith(".h")),
        include_dirs=[_CSRC],
        cxx_std=17,
    ),
]

setup(packages=_packages(), ext_modules=ext_modules, cmdclass={"build_ext": BuildExt})

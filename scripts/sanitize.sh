#!/usr/bin/env bash
# Build tensorcore._C with AddressSanitizer + UndefinedBehaviorSanitizer and run the C++ backend
# tests (tests/test_cpp_*.py) against that build.
#
# The sanitized build goes into a temporary copy of the package (removed on exit), so the normal
# build in the working tree is untouched. Python itself is not instrumented, so libasan has to be
# loaded first (LD_PRELOAD), and leak checking is off: CPython keeps objects alive until exit on
# purpose, which LeakSanitizer would report. Any UB report aborts (-fno-sanitize-recover), so a
# clean exit status means no ASan or UBSan finding.
#
# Usage: scripts/sanitize.sh [extra pytest args]   (from any directory; uses the active python)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python}"
work="$(mktemp -d "${TMPDIR:-/tmp}/tensorcore-sanitize.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# Sources only: no built extension (a stale _C*.so would shadow the sanitized one) or caches.
cp -r "$repo/csrc" "$repo/setup.py" "$repo/pyproject.toml" "$repo/tests" "$repo/tensorcore" "$work/"
if [ -d "$repo/kernels" ]; then cp -r "$repo/kernels" "$work/tensorcore/kernels"; fi
find "$work" \( -name '*.so' -o -name '__pycache__' \) -prune -exec rm -rf {} +

san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
echo "building tensorcore._C with $san in $work" >&2
(cd "$work" && CFLAGS="$san" LDFLAGS="$san" "$python" setup.py -q build_ext --inplace \
    --build-temp "$work/build" >"$work/build.log" 2>&1) || { cat "$work/build.log" >&2; exit 1; }

# libasan must come first; libstdc++ too, because ASan resolves the real __cxa_throw when it starts
# and python itself does not link libstdc++ (without it, the first C++ exception aborts).
preload="$(${CXX:-g++} -print-file-name=libasan.so) $(${CXX:-g++} -print-file-name=libstdc++.so)"
cd "$work"
# PYTHONPATH puts the copy ahead of an editable install of the working tree.
PYTHONPATH="$work" LD_PRELOAD="$preload" \
    ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:strict_string_checks=1" \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    "$python" -m pytest -q -p no:cacheprovider tests/test_cpp_backend.py tests/test_cpp_conv_pool_lstm.py tests/test_cpp_optim.py "$@"

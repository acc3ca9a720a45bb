"""What machine a benchmark ran on: CPU, OS, Python, NumPy and its BLAS, PyTorch, tensorcore's backends
and the GPU (or why there is none).

:func:`describe` gathers it as a JSON-friendly dict (stored with every result file);
:func:`summary_lines` prints it for people; :func:`short_name` names result files.
Nothing here raises: a probe that fails records its error instead.
"""
from __future__ import annotations

import os
import platform
import re
import sys
import time
from typing import Any

#: Environment variables that change how fast the CPU kernels run; recorded with every result.
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TENSORCORE_NUM_THREADS", "NUMBA_NUM_THREADS",
                   "NUMBA_ENABLE_CUDASIM")


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else :func:`platform.processor`."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def cpu_flags() -> list[str]:
    """The vector ISA extensions of interest (sse4_2, avx, avx2, fma, avx512f, ...) the CPU reports."""
    wanted = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_bf16", "amx_tile", "neon", "asimd")
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith(("flags", "features")):
                    have = set(line.split(":", 1)[1].split())
                    return [w for w in wanted if w in have]
    except OSError:
        pass
    return []


def usable_cores() -> int:
    """Cores this process may run on (the affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _numpy_info() -> dict[str, Any]:
    import numpy as np

    info: dict[str, Any] = {"version": np.__version__}
    try:
        config = np.show_config(mode="dicts")
        blas = config.get("Build Dependencies", {}).get("blas", {})
        info["blas"] = {k: blas.get(k) for k in ("name", "version", "openblas configuration") if k in blas}
    except Exception as exc:  # older NumPy without mode="dicts"
        info["blas"] = {"error": f"{type(exc).__name__}: {exc}"}
    try:
        from threadpoolctl import threadpool_info

        info["threadpools"] = [{k: p.get(k) for k in ("user_api", "internal_api", "num_threads", "version",
                                                       "threading_layer", "architecture")}
                               for p in threadpool_info()]
    except ImportError:
        info["threadpools"] = "threadpoolctl not installed"
    except Exception as exc:
        info["threadpools"] = f"{type(exc).__name__}: {exc}"
    return info


def _torch_info() -> dict[str, Any] | None:
    try:
        import torch
    except ImportError:
        return None
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {"version": torch.__version__, "num_threads": torch.get_num_threads(),
            "cuda_available": bool(torch.cuda.is_available())}


def _tensorcore_info() -> dict[str, Any]:
    try:
        import tensorcore as tc
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    backends: dict[str, Any] = {}
    for name, av in tc.backends.available().items():
        entry: dict[str, Any] = {"device": av.device, "available": av.available}
        if not av.available:
            entry["reason"] = av.reason
        else:
            table = tc.backends.get(name).table()
            entry["handwritten"] = sorted(k for k, v in table.items() if v == "handwritten")
        backends[name] = entry
    info: dict[str, Any] = {"version": getattr(tc, "__version__", "unknown"), "backends": backends}
    if backends.get("cpp", {}).get("available"):
        try:
            from tensorcore.backends import cpp

            info["cpp_num_threads"] = cpp.get_num_threads()
        except Exception as exc:
            info["cpp_num_threads"] = f"{type(exc).__name__}: {exc}"
    return info


def _gpu_info() -> dict[str, Any]:
    try:
        import tensorcore as tc
        from tensorcore.device import simulated

        ok, reason = tc.cuda.is_available(), tc.cuda.why_unavailable()
    except Exception as exc:
        return {"found": False, "reason": f"tensorcore could not probe the GPU: {exc}"}
    if not ok:
        return {"found": False, "reason": reason}
    if simulated():
        return {"found": False, "simulated": True, "reason": reason}
    info: dict[str, Any] = {"found": True, "reason": reason}
    try:
        import cupy

        props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        info["name"] = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        info["compute_capability"] = f"{props['major']}.{props['minor']}"
        info["memory_gib"] = round(props["totalGlobalMem"] / 2**30, 1)
        info["cupy"] = cupy.__version__
        info["cuda_runtime"] = cupy.cuda.runtime.runtimeGetVersion()
    except Exception as exc:
        info["error"] = f"{type(exc).__name__}: {exc}"
    return info


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (None where the OS has none). Other programs running
    during a benchmark make its numbers noisy; results record the load at the start."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def _cpu_times() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs from /proc/stat, or None off Linux."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def cpu_busy_percent(interval: float = 0.25) -> float | None:
    """How busy all CPUs are right now (percent, sampled over ``interval`` seconds), None off Linux.

    Unlike the load average, which trails by a minute, this catches other programs running at the
    moment the benchmark starts."""
    before = _cpu_times()
    if before is None:
        return None
    time.sleep(interval)
    after = _cpu_times()
    if after is None or after[1] == before[1]:
        return None
    return round(100.0 * (after[0] - before[0]) / (after[1] - before[1]), 1)


def describe() -> dict[str, Any]:
    """The machine as a JSON-friendly dict (see the module docstring for what it holds)."""
    env = {k: v for k, v in sorted(os.environ.items()) if k.startswith("OPENBLAS_")}
    env.update({k: os.environ[k] for k in THREAD_ENV_VARS if k in os.environ})
    return {
        "cpu": {"model": cpu_model(), "logical_cores": os.cpu_count(), "usable_cores": usable_cores(),
                "isa": cpu_flags(), "machine": platform.machine(), "load_average": load_average(),
                "busy_percent_at_start": cpu_busy_percent()},
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "numpy": _numpy_info(),
        "torch": _torch_info(),
        "tensorcore": _tensorcore_info(),
        "gpu": _gpu_info(),
        "env": env,
    }


def short_name(machine: dict[str, Any] | None = None) -> str:
    """A file-name-safe tag for the machine, e.g. ``amd-epyc-2c`` or ``nvidia-h100-80gb-hbm3``."""
    machine = describe() if machine is None else machine
    gpu = machine.get("gpu", {})
    base = gpu["name"] if gpu.get("found") and gpu.get("name") else \
        f"{machine['cpu']['model']}-{machine['cpu']['usable_cores']}c"
    base = re.sub(r"\((r|tm|c)\)", "", base.lower())
    base = re.sub(r"\b(processor|cpu|with .*)\b", "", base)
    return re.sub(r"[^a-z0-9]+", "-", base).strip("-")[:48] or "machine"


def summary_lines(machine: dict[str, Any]) -> list[str]:
    """The machine description as a few human-readable lines."""
    cpu, np_info, tc_info, gpu = machine["cpu"], machine["numpy"], machine["tensorcore"], machine["gpu"]
    lines = [f"CPU      {cpu['model']}, {cpu['usable_cores']} usable of {cpu['logical_cores']} cores"
             + (f" ({', '.join(cpu['isa'])})" if cpu.get("isa") else ""),
             f"OS       {machine['os']}; Python {machine['python']}"]
    load, busy = cpu.get("load_average"), cpu.get("busy_percent_at_start")
    if load is not None or busy is not None:
        text = "Load     "
        if busy is not None:
            text += f"CPUs {busy:.0f}% busy at start"
        if load is not None:
            text += ("; " if busy is not None else "") + f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
        if busy is not None and busy > 20:
            text += "  <- other programs are running: timings will be noisy"
        lines.append(text)
    blas = np_info.get("blas", {})
    pools = np_info.get("threadpools")
    threads = ", ".join(f"{p['internal_api']} {p['num_threads']} threads" for p in pools) \
        if isinstance(pools, list) else str(pools)
    lines.append(f"NumPy    {np_info['version']}; BLAS {blas.get('name', '?')} {blas.get('version', '')}"
                 + (f"; {threads}" if threads else ""))
    openblas = {k: v for k, v in machine["env"].items() if k.startswith("OPENBLAS_")}
    lines.append("OpenBLAS env  " + (", ".join(f"{k}={v}" for k, v in openblas.items()) if openblas
                                     else "(no OPENBLAS_* variables set)"))
    other = {k: v for k, v in machine["env"].items() if not k.startswith("OPENBLAS_")}
    if other:
        lines.append("Thread env    " + ", ".join(f"{k}={v}" for k, v in other.items()))
    torch_info = machine.get("torch")
    lines.append("PyTorch  " + ("not installed" if torch_info is None else
                                f"{torch_info.get('version')} ({torch_info.get('num_threads')} threads)"
                                if "error" not in torch_info else torch_info["error"]))
    if "error" in tc_info:
        lines.append(f"tensorcore  import failed: {tc_info['error']}")
    else:
        for name, b in tc_info["backends"].items():
            state = (f"available, handwritten: {', '.join(b['handwritten']) or 'none'}" if b["available"]
                     else f"unavailable: {b['reason']}")
            lines.append(f"backend  {name} ({b['device']}): {state}")
        if "cpp_num_threads" in tc_info:
            lines.append(f"         cpp kernels use {tc_info['cpp_num_threads']} threads")
    if gpu.get("found"):
        lines.append(f"GPU      {gpu.get('name', '?')} (sm {gpu.get('compute_capability', '?')}, "
                     f"{gpu.get('memory_gib', '?')} GiB)")
    else:
        lines.append(f"GPU      not found: {gpu.get('reason', 'unknown')}")
    return lines


if __name__ == "__main__":  # pragma: no cover - python -m bench.machine
    print("\n".join(summary_lines(describe())))
    sys.exit(0)

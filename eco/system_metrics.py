"""System metrics sampled in the background: CPU and memory (psutil) and, where NVIDIA's management library is
present (the `nvidia-ml-py` package and a driver), each GPU's utilisation and memory. The names follow MLflow's
system metrics, under `system/`:

    system/cpu_utilization_percentage      whole machine, 0-100 over all cores
    system/memory_usage_megabytes          the machine's memory in use (MiB); system/memory_usage_percentage
    system/process_rss_megabytes           this process and its children (MiB)
    system/gpu_{i}_utilization_percentage  system/gpu_{i}_memory_usage_megabytes (MiB)

psutil is the optional extra `eco[system]` for the light client; without it the sampler warns once and stops.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable

MIB = 1024 * 1024


def _nvml():
    """pynvml initialised, or None without the library or a driver (the usual case on a CPU machine)."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # ImportError, or NVMLError without a driver
        return None
    return pynvml


def sample(process=None, nvml=None) -> dict[str, float]:
    """One reading of the metrics above (GPU ones only with `nvml`). `process` is a psutil.Process."""
    import psutil

    memory = psutil.virtual_memory()
    values = {
        "system/cpu_utilization_percentage": psutil.cpu_percent(interval=None),
        "system/memory_usage_megabytes": (memory.total - memory.available) / MIB,
        "system/memory_usage_percentage": memory.percent,
    }
    if process is not None:
        rss = process.memory_info().rss
        for child in process.children(recursive=True):
            try:
                rss += child.memory_info().rss
            except psutil.Error:  # a child that ended since it was listed
                continue
        values["system/process_rss_megabytes"] = rss / MIB
    if nvml is not None:
        for i in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(i)
            values[f"system/gpu_{i}_utilization_percentage"] = float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
            values[f"system/gpu_{i}_memory_usage_megabytes"] = nvml.nvmlDeviceGetMemoryInfo(handle).used / MIB
    return values


class Sampler(threading.Thread):
    """Calls `report(values, step)` every `interval_s` seconds from a daemon thread, with step 0, 1, 2, ...
    until `stop()`; the first reading comes one interval after the start (CPU use is measured between readings)."""

    def __init__(self, report: Callable[[dict[str, float], int], None], interval_s: float = 10.0):
        super().__init__(name="eco-system-metrics", daemon=True)
        self.report, self.interval_s = report, interval_s
        self._stop_event = threading.Event()

    def run(self) -> None:  # noqa: D102 (threading.Thread's)
        try:
            import psutil
        except ImportError:
            warnings.warn("eco: system metrics need psutil (pip install 'eco[system]'); none are logged", stacklevel=1)
            return
        process, nvml = psutil.Process(), _nvml()
        psutil.cpu_percent(interval=None)  # the first call only starts the measurement
        step = 0
        while not self._stop_event.wait(self.interval_s):
            try:
                self.report(sample(process, nvml), step)
            except Exception as exc:  # a failing reading must not end the run
                warnings.warn(f"eco: a system metrics reading failed: {exc}", stacklevel=1)
            step += 1

    def stop(self) -> None:
        self._stop_event.set()

"""How the device copes: process memory, CPU load per core, temperature and clock, from /proc and
/sys. Every reading may be missing (containers, VMs and some boards lack thermal zones or cpufreq):
missing is None, never an exception. Reading all of it costs well under a millisecond.
"""

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SystemSample:
    rss_mb: float | None
    cpu_percent: tuple[float, ...] | None  # per core, since the previous sample
    temperature_c: float | None
    frequency_mhz: tuple[float, ...] | None  # per core


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (OSError, ValueError):
        return None


def _status_mb(key: str, status: Path) -> float | None:
    for line in (_read(status) or "").splitlines():
        if line.startswith(key):
            return int(line.split()[1]) / 1024
    return None


def rss_mb(status: Path = Path("/proc/self/status")) -> float | None:
    return _status_mb("VmRSS:", status)


def peak_rss_mb(status: Path = Path("/proc/self/status")) -> float | None:
    """The most this process has held (its high-water mark)."""
    return _status_mb("VmHWM:", status)


def cpu_fields(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict[str, str]:
    """/proc/cpuinfo's fields for the first processor ("flags" on x86, "Features" on ARM, ...)."""
    fields: dict[str, str] = {}
    for line in (_read(cpuinfo) or "").splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in fields:
            fields[key.strip()] = value.strip()
    return fields


def cpu_times(stat: Path = Path("/proc/stat")) -> dict[str, tuple[int, int]] | None:
    """(busy, total) jiffies per core."""
    text = _read(stat)
    if text is None:
        return None
    times = {}
    for line in text.splitlines():
        name, *fields = line.split()
        if name.startswith("cpu") and name != "cpu" and len(fields) >= 4:
            values = [int(v) for v in fields[:8]]
            idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
            times[name] = (sum(values) - idle, sum(values))
    return times or None


def temperature_c(thermal: Path = Path("/sys/class/thermal")) -> float | None:
    """The CPU's zone when one says so (x86_pkg_temp, cpu-thermal, soc...), else the first."""
    zones = sorted(thermal.glob("thermal_zone*")) if thermal.is_dir() else []
    readings = []
    for zone in zones:
        kind = (_read(zone / "type") or "").strip().lower()
        value = _read(zone / "temp")
        if value is None:
            continue
        try:
            celsius = int(value.strip()) / 1000
        except ValueError:
            continue
        readings.append((0 if any(k in kind for k in ("cpu", "soc", "pkg")) else 1, celsius))
    return min(readings)[1] if readings else None


def frequencies_mhz(cpus: Path = Path("/sys/devices/system/cpu")) -> tuple[float, ...] | None:
    values = []
    for path in sorted(cpus.glob("cpu[0-9]*/cpufreq/scaling_cur_freq"), key=lambda p: int(p.parent.parent.name[3:])):
        text = _read(path)
        if text and text.strip().isdigit():
            values.append(int(text) / 1000)
    return tuple(values) or None


class SystemMonitor:
    """Samples the system; CPU load is the busy share since the previous sample."""

    def __init__(self, proc: Path = Path("/proc"), sys: Path = Path("/sys")) -> None:
        self._proc, self._sys = proc, sys
        self._last = cpu_times(proc / "stat")

    def sample(self) -> SystemSample:
        now = cpu_times(self._proc / "stat")
        load = None
        if now is not None and self._last is not None:
            load = tuple(100.0 * max(0, now[c][0] - self._last[c][0]) / max(1, now[c][1] - self._last[c][1])
                         for c in sorted(now, key=lambda name: int(name[3:])) if c in self._last)
        self._last = now
        return SystemSample(rss_mb(self._proc / "self" / "status"), load or None,
                            temperature_c(self._sys / "class" / "thermal"),
                            frequencies_mhz(self._sys / "devices" / "system" / "cpu"))

"""A disk cache, per boot, of local hardware facts that cannot change until the machine restarts.

py-cpuinfo runs its CPUID probe in a child Python process (about a second, more than the rest of
``devicefit devices``). Its answer (model, flags, cache sizes) stays true until the machine reboots, so
it is kept in the user cache directory under the kernel's boot id (``/proc/sys/kernel/random/boot_id``,
a new random id at every boot): a new boot, or another py-cpuinfo version, probes afresh. Where
there is no boot id (not Linux) nothing is cached. What can change while the machine runs (free
memory, the cpufreq limits, PyTorch's thread count) is never cached: callers read it every time.

The trade-off: the clock figures py-cpuinfo reports (``hz_advertised``, ``hz_actual``) are taken
from the first probe of the boot; ``probe_cpu`` reads them as the nominal clock, which a boot does
not change, and takes the maximum clock from cpufreq, read every time.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devicefit.data import cache_path

#: The kernel's id of this boot: a random UUID drawn at each boot (proc(5)).
BOOT_ID_PATH = Path("/proc/sys/kernel/random/boot_id")


def default_probe_dir() -> Path:
    """``probes`` in devicefit's cache directory (``$DEVICEFIT_CACHE_DIR`` or the user cache directory)."""
    return cache_path("probes")


def boot_id() -> str | None:
    """This boot's id, ``None`` where the system does not give one."""
    try:
        return BOOT_ID_PATH.read_text().strip() or None
    except OSError:
        return None


def cached_per_boot(
    name: str, version: str, probe: Callable[[], dict[str, Any]], directory: Path | None = None
) -> dict[str, Any]:
    """``probe()``'s answer, from this boot's cache entry ``name`` when it was written by ``version``.

    Args:
        name: The entry's file name (without ``.json``).
        version: The version of what probes; an entry written by another is probed afresh.
        probe: Returns a JSON-serializable dict that holds until the next boot.
        directory: The cache directory; ``default_probe_dir()`` when ``None``.
    """
    boot = boot_id()
    if boot is None:
        return probe()
    path = (directory or default_probe_dir()) / f"{name}.json"
    try:
        entry = json.loads(path.read_text())
        if entry["boot_id"] == boot and entry["version"] == version:
            return dict(entry["answer"])
    except (OSError, ValueError, KeyError, TypeError):
        pass  # no entry, or a damaged one: probe and write it afresh
    answer = probe()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False) as file:
            json.dump({"boot_id": boot, "version": version, "answer": answer}, file)
        os.replace(file.name, path)
    except OSError:
        # An unwritable cache costs the next call a probe, nothing else: the answer is still right.
        pass
    return answer


def cpu_info() -> dict[str, Any]:
    """``cpuinfo.get_cpu_info()``, probed once per boot."""
    import cpuinfo

    return cached_per_boot("cpuinfo", str(cpuinfo.CPUINFO_VERSION_STRING), cpuinfo.get_cpu_info)

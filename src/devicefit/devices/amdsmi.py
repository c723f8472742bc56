"""AMD GPU energy through ROCm SMI's Python bindings (``amdsmi``), behind one module so tests can patch it.

``amdsmi_get_energy_count`` returns an accumulating counter and its resolution in micro-joules; the
counter's key is ``energy_accumulator`` in recent releases and ``power`` in older ones. GPUs are
matched by enumeration order, which is the HIP order unless ``HIP_VISIBLE_DEVICES`` or
``ROCR_VISIBLE_DEVICES`` reorders them.
"""

from __future__ import annotations

from typing import Any

from devicefit.devices.energy import Counter, CounterMeter, EnergyMeter, NoMeter

_UJ = 1e-6


def _load() -> Any | None:
    try:
        import amdsmi
    except ImportError:
        return None
    return amdsmi


def _joules(count: dict[str, Any]) -> float:
    raw = count["energy_accumulator"] if "energy_accumulator" in count else count["power"]
    return float(raw) * float(count["counter_resolution"]) * _UJ


def energy_meter(index: int) -> EnergyMeter:
    """The AMD GPU's energy counter through ``amdsmi``, or a ``NoMeter`` saying why there is none.

    Args:
        index: The GPU's position among the processors ``amdsmi`` enumerates.
    """
    amdsmi = _load()
    if amdsmi is None:
        return NoMeter("no meter: ROCm SMI's Python bindings (amdsmi) are not installed")
    try:
        amdsmi.amdsmi_init()
        handles = amdsmi.amdsmi_get_processor_handles()
        if index >= len(handles):
            return NoMeter(f"no meter: amdsmi finds {len(handles)} GPU(s), not GPU {index}")
        handle = handles[index]
        count = amdsmi.amdsmi_get_energy_count(handle)
        _joules(count)
    except Exception as error:
        return NoMeter(f"no meter: amdsmi cannot read GPU {index}'s energy ({error})")
    counter = Counter(name="gpu", read_j=lambda: _joules(amdsmi.amdsmi_get_energy_count(handle)))
    return CounterMeter(
        [counter],
        meter="ROCm SMI energy counter",
        resolution_j=float(count["counter_resolution"]) * _UJ,
        note="the whole device: every process on the GPU counts",
    )

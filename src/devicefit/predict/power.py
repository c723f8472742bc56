"""The power model: a device's average power during a step, from its TDP and what bounds the step.

A device draws near its thermal design power (TDP) when its arithmetic units are saturated, less when
it waits on memory, and little more than idle when it waits on the host between kernel launches. The
model weights a fraction of the TDP by the share of the step each bound takes (``Prediction``'s
``compute_s``, ``memory_s``, ``overhead_s``): ``P = TDP x sum(share_b x fraction_b)``.

The trade-off: one fraction per bound and device class, not per kernel or clock; a device that caps
its power below TDP, or boosts above it briefly, is off by that much. The fractions are recalled from
published measurements (marked below, not re-read in this pass), hence the wide error band.
Only the device's own power is modelled: a GPU's host CPU, memory and fans are not.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Sequence

from devicefit.catalog import Catalog
from devicefit.records import DeviceDescription, PowerEstimate, Prediction

#: Fraction of TDP a GPU draws by what bounds the work. Recalled, not re-read in this pass:
#: compute-bound: large matrix products and training steps run at or just under the power limit
#: (Patel et al., "Characterizing Power Management Opportunities for LLMs in the Cloud", ASPLOS 2024:
#: training and prompt phases near TDP); memory-bound: LLM token generation, bandwidth-bound, draws
#: well below (Patel et al., "Splitwise", ISCA 2024: the token phase at roughly 60% of TDP);
#: launch-bound: the GPU idles between short kernels at raised clocks (nvidia-smi readings of idle
#: datacenter GPUs at 10-20% of TDP: A100 SXM4 about 50-60 W of 400 W, T4 about 10 W of 70 W).
GPU_FRACTIONS = {"compute": 0.9, "memory": 0.6, "overhead": 0.3}
#: The same for a CPU package. Recalled, not re-read in this pass: all cores running FMA-heavy code
#: hold the package at its sustained power limit (Intel's PL1 is the TDP); bandwidth-bound code stalls
#: the cores at lower power; per-operator Python dispatch keeps one core busy and the rest near idle.
CPU_FRACTIONS = {"compute": 0.95, "memory": 0.75, "overhead": 0.4}
#: Expected relative error of the estimate: the fractions above vary by that much across devices and
#: workloads in the measurements they were recalled from.
ERROR_BAND = 0.35
#: A TDP derived per core (a VM's share of an unknown host CPU) adds its own spread: the catalog's
#: CPUs range from about 3.5 to 7 W per core.
DERIVED_TDP_ERROR_BAND = 0.6


def device_tdp(
    device: str, catalog: Catalog, local: Sequence[DeviceDescription] = ()
) -> tuple[float, str] | None:
    """A device's TDP and where it came from; ``None`` when nothing says.

    Catalog devices take their entry's TDP; a local GPU its board power limit (NVML), else its catalog
    entry's; a local CPU its catalog entry's, else its physical cores times the median TDP per core of
    the catalog's CPUs (a VM's share of an unknown host).
    """
    described = next((d for d in local if d.id == device), None)
    spec = catalog.get(described.catalog_id if described and described.catalog_id else device)
    if described is not None and described.gpu and described.gpu.power_limit_w:
        return described.gpu.power_limit_w, f"{described.gpu.power_limit_w:.0f} W board power limit (NVML)"
    if spec is not None and spec.tdp_w:
        return spec.tdp_w, f"{spec.tdp_w:.0f} W TDP ({spec.id} in the catalog)"
    if described is not None and described.cpu:
        per_core = [
            s.tdp_w / s.num_multiprocessors
            for s in catalog.devices
            if s.kind == "cpu" and s.tdp_w and s.num_multiprocessors
        ]
        if per_core:
            median = statistics.median(per_core)
            watts = median * described.cpu.num_physical_cores
            return watts, (
                f"{watts:.0f} W: {described.cpu.num_physical_cores} cores x {median:.1f} W per core, "
                "the median of the catalog's CPUs (this CPU's TDP is unknown)"
            )
    return None


def estimate_power(
    prediction: Prediction, tdp_w: float, basis: str, *, cpu: bool, derived: bool = False
) -> PowerEstimate:
    """Average power and energy of a predicted step on a device of TDP ``tdp_w``.

    Args:
        prediction: The predicted step (its compute, memory and overhead times weight the fractions).
        tdp_w: The device's TDP (watts).
        basis: Where the TDP came from, for the reader.
        cpu: The device is a CPU (else a GPU or accelerator).
        derived: The TDP was derived per core rather than read (a wider error band).
    """
    fractions = CPU_FRACTIONS if cpu else GPU_FRACTIONS
    parts = {
        "compute": prediction.compute_s,
        "memory": prediction.memory_s,
        "overhead": prediction.overhead_s,
    }
    total = sum(parts.values())
    fraction = sum(parts[b] / total * fractions[b] for b in parts) if total > 0 else fractions["overhead"]
    power = tdp_w * fraction
    energy = power * prediction.step_time_s
    shares = ", ".join(f"{b} {parts[b] / total:.0%}" for b in parts) if total > 0 else "no work"
    return PowerEstimate(
        power_w=power,
        energy_j=energy,
        samples_per_j=prediction.batch_size / energy if energy > 0 else 0.0,
        error_band=DERIVED_TDP_ERROR_BAND if derived else ERROR_BAND,
        tdp_w=tdp_w,
        basis=f"{fraction:.0%} of {basis}; step {shares}",
    )


def with_power(
    prediction: Prediction, catalog: Catalog, local: Sequence[DeviceDescription] = ()
) -> Prediction:
    """``prediction`` with its modelled power and energy (unchanged when the TDP is unknown)."""
    found = device_tdp(prediction.device, catalog, local)
    if found is None:
        return prediction
    tdp, basis = found
    described = next((d for d in local if d.id == prediction.device), None)
    spec = catalog.get(prediction.device)
    cpu = (described.kind == "cpu") if described is not None else (spec is not None and spec.kind == "cpu")
    estimate = estimate_power(prediction, tdp, basis, cpu=cpu, derived="per core" in basis)
    return dataclasses.replace(prediction, power=estimate)

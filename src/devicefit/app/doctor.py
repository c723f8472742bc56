"""``devicefit doctor``: probe the frameworks and the system, time a product on each device, diagnose."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from devicefit.devices import discover_devices
from devicefit.diagnose.doctor import diagnose
from devicefit.diagnose.probes import DEFAULT_TIMEOUT_S, FRAMEWORKS, probe_frameworks, read_system
from devicefit.measure.proof import prove
from devicefit.records import DoctorOutcome, ProofTiming


def doctor(
    *,
    frameworks: Sequence[str] = FRAMEWORKS,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    proof: bool = True,
    env: Mapping[str, str] | None = None,
) -> DoctorOutcome:
    """Checks each framework (in a subprocess, within ``timeout_s``), the system below, and the devices.

    Args:
        frameworks: Import names of the frameworks to probe.
        timeout_s: Each probe's time limit.
        proof: Time a product and a copy on each device PyTorch sees.
        env: The environment of the probes and the one read for ``CUDA_VISIBLE_DEVICES`` (this
            process's by default).
    """
    probes = probe_frameworks(frameworks, timeout_s=timeout_s, env=env)
    system = read_system(env)
    torch = next((p for p in probes if p.name == "torch"), None)
    timings: tuple[ProofTiming, ...] = ()
    note = ""
    if not proof:
        note = "skipped (--no-proof)"
    elif torch is None or torch.status != "ok":
        note = "skipped: PyTorch is not usable here, and it runs the proof"
    else:
        timings = prove(discover_devices())
    return DoctorOutcome(
        frameworks=probes,
        system=system,
        findings=diagnose(probes, system, timings),
        proof=timings,
        proof_note=note,
    )

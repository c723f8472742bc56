"""doctor's answer in the terminal and as JSON: frameworks, system, findings, the proof in words."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from devicefit.records import DoctorOutcome, FrameworkProbe, ProofTiming
from devicefit.report.units import format_bytes, format_decimal, format_seconds

#: The GPU/CPU ratio below which a product is called launch-bound: the GPU loses at that size.
_LAUNCH_BOUND_RATIO = 1.0


def _ratio(value: float) -> str:
    return f"{value:.3g}x" if value >= 10 else f"{value:.2g}x"


def proof_sentence(proof: Sequence[ProofTiming], note: str = "") -> str:
    """The proof in words: how each GPU compares with the CPU, or what the CPU alone does."""
    if not proof:
        return f"no proof: {note}" if note else "no proof: no device could run the timed product"
    times = {(t.device, t.operation, t.size): t for t in proof}
    products = sorted({t.size for t in proof if t.operation == "matmul"})
    small, large = products[0], products[-1]
    cpu_large = times.get(("cpu", "matmul", large))
    gpus = sorted({t.device for t in proof if t.device != "cpu"})
    if not gpus:
        copy = next((t for t in proof if t.operation == "copy"), None)
        parts = []
        if cpu_large:
            rate = format_decimal(cpu_large.rate_per_s, "FLOP/s")
            parts.append(f"a {large} product takes {format_seconds(cpu_large.time_s)} ({rate})")
        if copy:
            rate = format_decimal(copy.rate_per_s, "B/s")
            parts.append(f"a {format_bytes(copy.size * 4)} copy {format_seconds(copy.time_s)} ({rate})")
        return "only the CPU runs PyTorch here: " + ", ".join(parts) + "; there is no GPU to compare with"
    sentences = []
    for gpu in gpus:
        gpu_large = times.get((gpu, "matmul", large))
        if gpu_large is None or cpu_large is None:
            sentences.append(f"{gpu}: the timed product did not run")
            continue
        large_ratio = cpu_large.time_s / gpu_large.time_s
        if large_ratio < 1:
            sentences.append(
                f"{gpu} is slower than the CPU here: {_ratio(large_ratio)} on a {large} product, where a "
                "GPU should win by far (held at low clocks, shared with other jobs, or a virtual slice)"
            )
            continue
        sentence = f"the GPU {gpu} runs, and is {_ratio(large_ratio)} the CPU on a {large} product"
        cpu_small, gpu_small = times.get(("cpu", "matmul", small)), times.get((gpu, "matmul", small))
        if cpu_small and gpu_small and small != large:
            small_ratio = cpu_small.time_s / gpu_small.time_s
            bound = ": launch-bound" if small_ratio < _LAUNCH_BOUND_RATIO else ""
            sentence += f"; at {small} it is {_ratio(small_ratio)}{bound}"
        cpu_copy = next((t for t in proof if t.device == "cpu" and t.operation == "copy"), None)
        gpu_copy = next((t for t in proof if t.device == gpu and t.operation == "copy"), None)
        if cpu_copy and gpu_copy:
            sentence += f"; a copy is {_ratio(cpu_copy.time_s / gpu_copy.time_s)}"
        sentences.append(sentence)
    return "; ".join(sentences)


def doctor_to_dict(outcome: DoctorOutcome) -> dict[str, Any]:
    """The ``doctor --json`` document."""
    by_device: dict[str, list[dict[str, Any]]] = {}
    for t in outcome.proof:
        by_device.setdefault(t.device, []).append(
            {"operation": t.operation, "size": t.size, "time_s": t.time_s, "rate_per_s": t.rate_per_s}
        )
    return {
        "ok": outcome.ok,
        "frameworks": [
            {
                "name": p.name,
                "status": p.status,
                "version": p.version,
                "build": p.build,
                "devices": list(p.devices),
                "gpu_works": p.gpu_works,
                "cuda_version": p.cuda_version,
                "arch_list": list(p.arch_list),
                "packages": list(p.packages),
                "providers": list(p.providers),
                "detail": p.detail,
            }
            for p in outcome.frameworks
        ],
        "system": asdict(outcome.system),
        "findings": [asdict(f) for f in outcome.findings],
        "proof": {
            "devices": [{"device": device, "timings": timings} for device, timings in by_device.items()],
            "sentence": proof_sentence(outcome.proof, outcome.proof_note),
        },
    }


def _framework_row(p: FrameworkProbe) -> tuple[str, str, str, str, Text]:
    if p.status != "ok":
        style = "dim" if p.status == "missing" else "red"
        what = "not installed" if p.status == "missing" else p.detail
        return p.name, "", "", "", Text(what, style=style)
    works = {True: Text("yes", style="green"), False: Text("no", style="red"), None: Text("not tried")}
    return p.name, p.version or "", p.build, ", ".join(p.devices) or "none", works[p.gpu_works]


def render_doctor(outcome: DoctorOutcome) -> RenderableType:
    """Frameworks, the system, the proof and each finding with its fix."""
    frameworks = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for header in ("framework", "version", "build", "devices", "GPU op runs"):
        frameworks.add_column(header)
    for probe in outcome.frameworks:
        frameworks.add_row(*_framework_row(probe))
    system = outcome.system
    gpus = ", ".join(
        f"{g.index}: {g.name}" + (f" (cc {g.compute_capability})" if g.compute_capability else "")
        for g in system.gpus
    )
    lines = [
        f"driver: {system.driver_version or 'none'}"
        + (f" (CUDA {system.driver_cuda_version})" if system.driver_cuda_version else ""),
        f"GPUs: {gpus or 'none listed'}",
        "CUDA_VISIBLE_DEVICES: "
        + ("unset" if system.cuda_visible_devices is None else repr(system.cuda_visible_devices)),
        f"{system.platform}"
        + (", WSL" if system.is_wsl else "")
        + (", container" if system.in_container else ""),
    ]
    parts: list[RenderableType] = [frameworks, Text("\n".join(lines)), Text("")]
    parts.append(Text.assemble(("proof: ", "bold"), proof_sentence(outcome.proof, outcome.proof_note)))
    if outcome.ok:
        parts.append(Text("no problem found", style="green"))
    for finding in outcome.findings:
        # The fix's command on a line of its own, to copy; the note after it (in parentheses) below.
        command, _, note = finding.fix.partition("   (")
        details = Table.grid(padding=(0, 1))
        details.add_column(no_wrap=True)
        details.add_column()
        details.add_row("  cause:", Text(finding.cause))
        details.add_row("  fix:", Text(command, style="bold"))
        if note:
            details.add_row("", Text(f"({note}"))
        details.add_row("  see:", Text(finding.source, style="dim"))
        parts += [Text(""), Text.assemble(("problem: ", "bold red"), finding.symptom), details]
    return Group(*parts)

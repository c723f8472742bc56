"""A watch session in the terminal and as JSON: the live line, the summary and the diagnosis."""

from __future__ import annotations

import statistics
from dataclasses import asdict
from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text

from devicefit.records import WatchOutcome, WatchSample
from devicefit.report.units import format_bytes, format_seconds


def render_sample(sample: WatchSample) -> RenderableType:
    """The live view's line: the tree's CPU and memory, each GPU's utilization, memory and power."""
    parts = [
        f"{sample.elapsed_s:7.1f} s",
        f"CPU {sample.cpu_percent:5.0f}% of a core",
        f"RSS {format_bytes(sample.rss_bytes)}",
        f"{sample.num_processes} proc",
    ]
    if sample.iowait_percent is not None:
        parts.append(f"iowait {sample.iowait_percent:.0f}%")
    for gpu in sample.gpus:
        text = f"GPU{gpu.index} {gpu.utilization_percent or 0:.0f}%"
        if gpu.tree_memory_bytes:
            text += f" {format_bytes(gpu.tree_memory_bytes)}"
        if gpu.power_w is not None:
            text += f" {gpu.power_w:.0f} W"
        if gpu.throttle_reasons:
            text += f" [{','.join(gpu.throttle_reasons)}]"
        parts.append(text)
    return Text("  ".join(parts))


def render_watch(outcome: WatchOutcome) -> RenderableType:
    """The session's summary line and each finding with its evidence; problems in red."""
    styles = {"complete": "green", "interrupted": "yellow", "failed": "red"}
    exit_text = f", exit status {outcome.exit_code}" if outcome.exit_code is not None else ""
    lines: list[RenderableType] = [
        Text.assemble(
            ("watch ", "bold"),
            f"{outcome.session_id}: {outcome.command}  ",
            (outcome.status, styles.get(outcome.status, "")),
            f"{exit_text}; {len(outcome.samples)} samples every {format_seconds(outcome.interval_s)} over "
            f"{format_seconds(outcome.duration_s)}; GPU used: {'yes' if outcome.gpu_used else 'no'}",
        )
    ]
    for finding in outcome.diagnosis:
        lines.append(
            Text.assemble(
                ("  ! " if finding.problem else "  - ", "bold red" if finding.problem else ""),
                finding.finding,
            )
        )
        lines.append(Text(f"      {finding.evidence}", style="dim"))
    return Group(*lines)


def watch_to_dict(outcome: WatchOutcome, *, samples: bool = False) -> dict[str, Any]:
    """The ``watch --json`` document: the session, its diagnosis, and the samples' count (or the samples)."""
    cpu = [s.cpu_percent for s in outcome.samples]
    return {
        "session_id": outcome.session_id,
        "status": outcome.status,
        "command": outcome.command,
        "exit_code": outcome.exit_code,
        "duration_s": outcome.duration_s,
        "interval_s": outcome.interval_s,
        "samples": len(outcome.samples),
        "gpu_used": outcome.gpu_used,
        "cpu_percent_mean": statistics.fmean(cpu) if cpu else None,
        "num_cores": outcome.num_cores,
        "diagnosis": [
            {"finding": f.finding, "evidence": f.evidence, "problem": f.problem} for f in outcome.diagnosis
        ],
        "step_rate": asdict(outcome.step_rate) if outcome.step_rate else None,
        **({"sample_records": [asdict(s) for s in outcome.samples]} if samples else {}),
    }

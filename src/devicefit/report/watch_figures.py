"""The report's watch sessions: a watched job's CPU and GPU use over time, with its diagnosis as caption."""

from __future__ import annotations

from collections.abc import Sequence

from devicefit.records import WatchOutcome
from devicefit.report.figure import Figure, Section, layout, rows_of, scatter


def watch_section(sessions: Sequence[WatchOutcome]) -> Section | None:
    """One figure per watch session: the tree's CPU use and each GPU's utilization by elapsed time."""
    figures = tuple(_session_figure(s) for s in sessions if s.samples)
    if not figures:
        return None
    return Section(
        id="watch",
        title="Watched jobs",
        intro="What a running job used, sample by sample, and what devicefit made of it.",
        figures=figures,
    )


def _session_figure(session: WatchOutcome) -> Figure:
    case = f"watch {session.session_id}"
    cores = session.num_cores
    cpu = [(s.elapsed_s, s.cpu_percent / cores, session.session_id, case) for s in session.samples]
    series = [(f"CPU (% of {session.num_cores} cores)", cpu)]
    indices = sorted({g.index for s in session.samples for g in s.gpus})
    for index in indices:
        points = [
            (s.elapsed_s, g.utilization_percent, session.session_id, case)
            for s in session.samples
            for g in s.gpus
            if g.index == index and g.utilization_percent is not None
        ]
        if points:
            series.append((f"GPU {index} utilization (%)", points))
    findings = " ".join(f"{f.finding}: {f.evidence}." for f in session.diagnosis)
    return Figure(
        id=f"watch-{session.session_id}",
        title=f"Run {session.session_id}: {session.command} ({session.status})",
        caption=(
            "The job's process tree as devicefit watch sampled it, every "
            f"{session.interval_s:g} s for {session.duration_s:.0f} s. A GPU line that drops to zero "
            "between busy spells means the GPU waited for the host (input-bound); no GPU line means the "
            f"job never touched one. {findings}"
        ),
        traces=tuple(scatter(name, points, mode="lines") for name, points in series),
        layout=layout("elapsed (s)", "utilization (%)", log_x=False, log_y=False),
        columns=("series", "elapsed (s)", "utilization (%)", "run", "case"),
        rows=rows_of(series),
    )

"""The history of runs in the terminal."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import RenderableType
from rich.text import Text

from devicefit.records import RunSummary
from devicefit.report.tables import Column, FittedTable


def render_runs(runs: Sequence[RunSummary]) -> RenderableType:
    """The history table, newest first; devices and the command wrap on a narrow terminal."""
    columns = [
        Column(header="run", justify="right"),
        Column(header="started"),
        Column(header="status"),
        Column(header="devices", wrap=True),
        Column(header="results", justify="right"),
        Column(header="command", wrap=True, min_width=20),
    ]
    styles = {
        "complete": "green",
        "interrupted": "yellow",
        "failed": "red",
        "abandoned": "red",
        "running": "cyan",
    }
    rows = [
        (
            str(run.run_id),
            run.started_at.replace("T", " ")[:19],
            # A running run may be another host's, whose process cannot be checked from here.
            Text(
                f"running on {run.hostname}" if run.status == "running" else run.status,
                style=styles[run.status],
            ),
            ", ".join(run.devices),
            str(run.num_results),
            run.label or run.command,
        )
        for run in runs
    ]
    return FittedTable(columns, rows)

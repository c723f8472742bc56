"""A fleet benchmark in the terminal and in JSON: a row per node, outliers flagged."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text

from devicefit.records import FleetOutcome
from devicefit.report.tables import Column, FittedTable


def fleet_to_dict(outcome: FleetOutcome) -> dict[str, Any]:
    """The ``fleet bench --json`` contract: the run, and per node its devices, result count and verdict."""
    return {
        "run_id": outcome.run_id,
        "nodes": [
            {
                "node": node.node,
                "hostname": node.environment.hostname,
                "torch_version": node.environment.torch_version,
                "devices": [d.id for d in node.devices],
                "results": len(node.results),
                "outlier": node.outlier,
            }
            for node in outcome.nodes
        ],
    }


def render_fleet(outcome: FleetOutcome) -> RenderableType:
    """A row per node: its devices, how many results it stored, and why it is an outlier."""
    table = FittedTable(
        [
            Column(header="node", style="cyan"),
            Column(header="devices", wrap=True),
            Column(header="results", justify="right"),
            Column(header="outlier", wrap=True),
        ],
        [
            (
                node.node,
                ", ".join(d.name for d in node.devices),
                str(len(node.results)),
                Text(node.outlier, style="red") if node.outlier else Text("no", style="green"),
            )
            for node in outcome.nodes
        ],
    )
    flagged = sum(1 for n in outcome.nodes if n.outlier)
    note = Text(
        f"{len(outcome.nodes)} node{'s' if len(outcome.nodes) != 1 else ''}, {flagged} slower than the"
        " fleet's median by more than 25%; "
        f"'devicefit show {outcome.run_id}' has every result",
        style="dim",
    )
    return Group(Text.from_markup(f"[bold]fleet run {outcome.run_id}[/]"), table, note)

r"""``devicefit report``: the report's sections as one self-contained HTML page, or as plain data for JSON.

The page inlines Plotly's library once (``plotly.offline.get_plotlyjs``) and draws each figure into
its own div from JSON kept in a ``<script type="application/json">``: one copy of the library
whatever the number of figures, and no network needed to open the file. Everything that came from a
user (run labels, model names, catalog names) is escaped: ``html.escape`` in the page, ``\u003c``
for ``<`` in the embedded JSON (so neither ``</script>`` nor ``<!--`` can end the script), and
entities in Plotly's labels (``figure.plot_text``).
"""

from __future__ import annotations

import html
import json
import math
import re
from importlib import resources
from string import Template
from typing import Any

from devicefit.records.report import ReportContent
from devicefit.report.figure import Figure, Section
from devicefit.report.measured_figures import (
    history_section,
    machine_section,
    roofline_section,
    scaling_section,
)
from devicefit.report.predicted_figures import across_section, crossover_section, validation_section
from devicefit.report.watch_figures import watch_section

#: Characters that could end or comment out a ``<script>`` (``</``, ``<!--``) or start an entity,
#: written as JSON's unicode escapes, which ``JSON.parse`` reads back unchanged.
_SCRIPT_SAFE = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def build_sections(content: ReportContent) -> list[Section]:
    """The report's sections in reading order, each only when it has data."""
    sections = [
        machine_section(content.runs),
        roofline_section(content.runs, content.models),
        scaling_section(content.runs),
        crossover_section(content.models),
        across_section(content.models, content.rates),
        validation_section(content.validated),
        history_section(content.history),
        watch_section(content.watches),
    ]
    return [s for s in sections if s is not None]


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: they become ``null`` (Plotly leaves a gap)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def script_json(data: Any) -> str:
    """``data`` as JSON that is safe inside a ``<script>`` element."""
    text = json.dumps(_finite(data), separators=(",", ":"), allow_nan=False)
    return re.sub("[<>&\u2028\u2029]", lambda m: _SCRIPT_SAFE[m.group()], text)


def _dom_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", text)


def _cell(value: Any) -> str:
    if value is None:
        return "<td></td>"
    if isinstance(value, float):
        return f'<td class="number">{value:.6g}</td>'
    if isinstance(value, int) and not isinstance(value, bool):
        return f'<td class="number">{value}</td>'
    return f"<td>{html.escape(str(value))}</td>"


def _table(figure: Figure) -> str:
    head = "".join(f'<th scope="col">{html.escape(c)}</th>' for c in figure.columns)
    body = "\n".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in figure.rows)
    return (
        f"<details><summary>The data ({len(figure.rows)} rows)</summary>\n"
        f"<table><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table></details>"
    )


def _figure(figure: Figure) -> str:
    div = f"plot-{_dom_id(figure.id)}"
    data = script_json({"data": list(figure.traces), "layout": figure.layout})
    return (
        f'<figure id="{_dom_id(figure.id)}">\n<h3>{html.escape(figure.title)}</h3>\n'
        f'<div class="plot" id="{div}" role="img" aria-label="{html.escape(figure.title)}"></div>\n'
        f'<script type="application/json" class="figure-data" data-target="{div}">{data}</script>\n'
        f"<figcaption>{html.escape(figure.caption)}</figcaption>\n{_table(figure)}\n</figure>"
    )


def _section(section: Section) -> str:
    figures = "\n".join(_figure(f) for f in section.figures)
    return (
        f'<section id="{section.id}">\n<h2>{html.escape(section.title)}</h2>\n'
        f"<p>{html.escape(section.intro)}</p>\n{figures}\n</section>"
    )


def _summary(content: ReportContent) -> str:
    runs = ", ".join(
        f"run {r.run_id}" + (f" ({r.label})" if r.label else "") + f" on {r.environment.hostname}"
        for r in content.runs
    )
    models = ", ".join(m.model for m in content.models)
    parts = [f"Measured: {runs}." if runs else "No benchmark run selected."]
    if models:
        parts.append(f"Models: {models}.")
    return html.escape(" ".join(parts))


def render_html(content: ReportContent, sections: list[Section] | None = None) -> str:
    """The whole page: Plotly inlined once, one div per figure, a table under each."""
    from plotly.offline import get_plotlyjs

    sections = build_sections(content) if sections is None else sections
    notes = (
        '<ul class="notes">' + "".join(f"<li>{html.escape(n)}</li>" for n in content.notes) + "</ul>"
        if content.notes
        else ""
    )
    page = Template(resources.files("devicefit.report").joinpath("page.html").read_text(encoding="utf-8"))
    return page.substitute(
        title="devicefit report",
        version=html.escape(content.version),
        created_at=html.escape(content.created_at),
        command=html.escape(content.command),
        summary=_summary(content),
        nav="".join(f'<a href="#{s.id}">{html.escape(s.title)}</a>' for s in sections),
        sections="\n".join(_section(s) for s in sections),
        notes=notes,
        plotly=get_plotlyjs(),
    )


def report_to_dict(content: ReportContent, sections: list[Section] | None = None) -> dict[str, Any]:
    """The same data as the page, without it: every figure's traces and table (``--format json``)."""
    sections = build_sections(content) if sections is None else sections
    return _finite(
        {
            "version": content.version,
            "command": content.command,
            "created_at": content.created_at,
            "runs": [
                {"run_id": r.run_id, "label": r.label, "hostname": r.environment.hostname}
                for r in content.runs
            ],
            "notes": list(content.notes),
            "sections": [
                {
                    "id": s.id,
                    "title": s.title,
                    "intro": s.intro,
                    "figures": [
                        {
                            "id": f.id,
                            "title": f.title,
                            "caption": f.caption,
                            "data": list(f.traces),
                            "layout": f.layout,
                            "columns": list(f.columns),
                            "rows": [list(r) for r in f.rows],
                        }
                        for f in s.figures
                    ],
                }
                for s in sections
            ],
        }
    )

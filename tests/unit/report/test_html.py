"""The HTML report: figures equal to the stored results, every point traceable, hostile strings escaped,
one copy of Plotly and no external URL, sections only with data, bounded traces."""

import json
import socket
from dataclasses import replace
from html.parser import HTMLParser

import pytest

from devicefit.app.report import report
from devicefit.records import Comparison
from devicefit.records.report import ReportContent, ValidatedStep
from devicefit.report.figure import MAX_POINTS_PER_TRACE, scatter
from devicefit.report.html import build_sections, render_html, report_to_dict, script_json
from tests.unit.report.recorded_store import HOSTILE, recorded_store


@pytest.fixture(scope="module")
def gathered(tmp_path_factory):
    """The recorded run twice and a validate run, gathered once for the module (no model: no tracing)."""
    folder = tmp_path_factory.mktemp("report")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEVICEFIT_CACHE_DIR", str(folder / "cache"))
        store, ids = recorded_store(folder / "runs.db")
        with store:
            content = report(store, [str(i) for i in ids], command="devicefit report 1 2")
            runs = {i: store.load_run(i) for i in ids}
    return content, runs, build_sections(content)


def figure(sections, figure_id):
    return next(f for s in sections for f in s.figures if f.id == figure_id)


def points(figure_, name):
    drawn = next(t for t in figure_.traces if t["name"] == name)
    return list(zip(drawn["x"], drawn["y"], strict=True))


def ok(run, *benchmarks, dtype=None):
    return [
        r
        for r in run.results
        if r.benchmark in benchmarks and r.status == "ok" and r.value is not None and dtype in (None, r.dtype)
    ]


def test_the_plotted_points_equal_the_stored_results(gathered):
    _, runs, sections = gathered
    run_id, run = next(iter(runs.items()))
    roofline = figure(sections, f"roofline-run{run_id}-cpu-fp32")
    products = ok(run, "matmul", "matmul_threads", dtype="fp32")
    assert products
    assert sorted(points(roofline, "matrix products (measured)")) == sorted(
        (r.flops_per_iteration / r.bytes_per_iteration, r.value) for r in products
    )
    bandwidth = figure(sections, f"bandwidth-run{run_id}-cpu")
    triads = ok(run, "triad")
    assert points(bandwidth, "triad (measured)") == sorted((r.bytes_per_iteration, r.value) for r in triads)
    elementwise = figure(sections, f"elementwise-run{run_id}-cpu")
    assert points(elementwise, "x * y (measured)") == sorted(
        (r.size, r.value) for r in ok(run, "elementwise")
    )


def test_the_measured_roof_is_the_fastest_product_and_the_largest_stream(gathered):
    _, runs, sections = gathered
    run_id, run = next(iter(runs.items()))
    roofline = figure(sections, f"roofline-run{run_id}-cpu-fp32")
    roof = roofline.traces[0]
    fastest = max(r.value for r in ok(run, "matmul", "matmul_threads", dtype="fp32"))
    largest = max(ok(run, "copy", "scale", "add", "triad"), key=lambda r: (r.bytes_per_iteration, r.value))
    assert max(roof["y"]) == pytest.approx(fastest)
    assert roof["y"][0] == pytest.approx(largest.value * roof["x"][0])  # bandwidth x intensity below the bend
    peak = run.devices[0].peak_flops_per_s("fp32")
    dashed = [t for t in roofline.traces if t.get("line", {}).get("dash") == "dash"]
    assert dashed and dashed[0]["y"] == [peak, peak]


def test_every_measured_point_names_its_run_and_case(gathered):
    _, runs, sections = gathered
    cases = {(str(i), r.case_id) for i, run in runs.items() for r in run.results}
    measured = [
        t
        for s in sections
        if s.id in ("roofline", "scaling", "history")
        for f in s.figures
        for t in f.traces
        if "customdata" in t
    ]
    assert measured
    for drawn in measured:
        assert {tuple(c) for c in drawn["customdata"]} <= cases, drawn["name"]
    for s in sections:
        for f in s.figures:
            assert {"run", "case"} <= set(f.columns) or s.id == "machine" or f.id == "history-environment"


def test_sections_appear_only_with_data(gathered):
    content, _, sections = gathered
    assert [s.id for s in sections] == ["machine", "roofline", "scaling", "validation", "history"]
    empty = ReportContent(version="0", command="devicefit report", created_at="now", runs=())
    assert build_sections(empty) == []
    without_streams = replace(
        content.runs[0],
        results=tuple(
            r
            for r in content.runs[0].results
            if r.benchmark != "triad" and r.benchmark not in ("copy", "scale", "add")
        ),
    )
    ids = {s.id for s in build_sections(replace(empty, runs=(without_streams,)))}
    assert "roofline" not in ids and "machine" in ids


def test_the_history_names_the_environment_fields_that_differ(gathered):
    _, runs, sections = gathered
    first, second = runs
    changes = figure(sections, "history-environment").rows
    assert ("torch_version", first, "2.13.0+cpu") in changes and (
        "torch_version",
        second,
        "2.14.0",
    ) in changes
    assert {row[0] for row in changes} <= {"torch_version", "hostname"}
    shared = figure(sections, "history")
    assert all(sorted(t["x"]) == [first, second] for t in shared.traces)


def test_the_validated_step_is_drawn_against_the_diagonal(gathered):
    content, _, sections = gathered
    assert len(content.validated) == 1
    step = content.validated[0]
    assert step.comparison.measured_s == pytest.approx(2.8e-4) and step.comparison.model == "mlp"
    validation = figure(sections, "validation")
    assert points(validation, "cpu train") == [(step.comparison.measured_s, step.comparison.predicted_s)]
    diagonal = next(t for t in validation.traces if t["name"] == "predicted = measured")
    assert diagonal["x"] == diagonal["y"]


def test_validated_steps_of_other_hosts_are_left_out(tmp_path, monkeypatch):
    store, ids = recorded_store(tmp_path / "runs.db")
    monkeypatch.setattr(socket, "gethostname", lambda: "another-host")
    with store:
        assert report(store, [str(ids[0])]).validated == ()


def test_hostile_strings_are_escaped_in_the_page(gathered):
    content, _, sections = gathered
    step = ValidatedStep(
        run_id=3,
        case_id=HOSTILE,
        comparison=Comparison(
            device=HOSTILE,
            num_threads=2,
            model=HOSTILE,
            batch_size=1,
            mode="train",
            predicted_s=1.0,
            measured_s=2.0,
            status="ok",
        ),
    )
    hostile = replace(
        content, validated=(step,), command=f"devicefit report --model {HOSTILE}", notes=(HOSTILE,)
    )
    page = render_html(hostile)
    assert HOSTILE not in page
    assert "<script>alert" not in page and "alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#x27;&lt;/div&gt;" in page  # the label, the note
    # In the figures' JSON the same string is a Plotly label: entities, with '<' written as \u003c.
    assert "\\u0026lt;script\\u0026gt;" in page


def test_embedded_json_cannot_end_its_script():
    text = script_json({"label": "</script><!-- & \u2028", "nan": float("nan")})
    assert "</" not in text and "<!--" not in text and "\u2028" not in text
    assert json.loads(text) == {"label": "</script><!-- & \u2028", "nan": None}


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]
        self.scripts += tag == "script"


def test_the_page_inlines_plotly_once_and_references_no_external_url(gathered):
    from plotly.offline import get_plotlyjs

    content, _, sections = gathered
    page = render_html(content, sections)
    assert page.count(get_plotlyjs()[:300]) == 1
    links = _Links()
    links.feed(page)
    assert links.urls and all(u.startswith("#") for u in links.urls), links.urls
    num_figures = sum(len(s.figures) for s in sections)
    assert page.count('class="plot"') == num_figures == page.count('class="figure-data"')
    assert page.count("<details>") == num_figures
    assert "devicefit report 1 2" in page  # the command in the footer


def test_the_json_format_holds_the_same_figures(gathered):
    content, _, sections = gathered
    data = json.loads(json.dumps(report_to_dict(content, sections)))
    assert [s["id"] for s in data["sections"]] == [s.id for s in sections]
    first = data["sections"][1]["figures"][0]
    drawn = sections[1].figures[0]
    assert first["id"] == drawn.id and first["columns"] == list(drawn.columns)
    assert first["data"][-1]["x"] == list(drawn.traces[-1]["x"])
    assert len(first["rows"]) == len(drawn.rows)


def test_a_trace_keeps_a_bounded_number_of_points_first_and_last_included():
    many = [(float(i), float(i), 1, f"case{i}") for i in range(5 * MAX_POINTS_PER_TRACE)]
    drawn = scatter("many", many)
    assert len(drawn["x"]) == MAX_POINTS_PER_TRACE
    assert drawn["x"][0] == 0.0 and drawn["x"][-1] == many[-1][0]


def test_the_crossover_leaves_out_steps_that_do_not_fit_and_says_who_wins():
    from devicefit.advise.crossover import find_crossovers
    from devicefit.records.advice import CrossoverOutcome, CrossoverPoint, DeviceSweep
    from devicefit.records.report import ModelReport
    from devicefit.report.predicted_figures import crossover_section

    def sweep(device, cpu, rates, fits=(True, True, True)):
        points = tuple(
            CrossoverPoint(
                batch_size=b, step_time_s=b / r, samples_per_s=r, copy_s=0.0, bound="compute", fits=f
            )
            for b, r, f in zip((1, 2, 4), rates, fits, strict=True)
        )
        return DeviceSweep(
            device=device, device_name=device, cpu=cpu, origin="defaults", error_band=0.3, points=points
        )

    # The GPU leads at batches 1 and 2; at 4 its memory runs out, so the CPU leads from there.
    sweeps = (
        sweep("cpu", True, (10.0, 20.0, 40.0)),
        sweep("gpu0", False, (50.0, 90.0, 30.0), (True, True, False)),
    )
    outcome = CrossoverOutcome(
        model="m",
        mode="train",
        precision="fp32",
        batch_sizes=(1, 2, 4),
        devices=sweeps,
        crossovers=find_crossovers(sweeps),
    )
    model = ModelReport(
        model="m", batch_size=1, precision="fp32", classes=(), predictions=(), crossover=outcome
    )
    (figure_,) = crossover_section([model]).figures
    gpu = next(t for t in figure_.traces if t["name"].startswith("gpu0"))
    assert gpu["x"] == [1, 2]
    assert "cpu overtakes gpu0 from batch 4" in figure_.caption
    assert not any(
        t["name"] == "crossover" for t in figure_.traces
    )  # no batch from which the GPU stays ahead


def test_a_gpu_gets_its_launch_latency_and_transfers_by_size():
    from devicefit.records import DeviceDescription, Run
    from devicefit.report.measured_figures import scaling_section
    from tests.unit.store.test_sqlite import ENVIRONMENT, make_result

    gpu = DeviceDescription(id="cuda:0", kind="cuda", name="GPU", vendor="nvidia", memory_bytes=2**34)
    copies = [
        make_result(case_id=f"{b}.{n}", device="cuda:0", benchmark=b, unit="B/s", size=n, value=v)
        for b in ("h2d", "d2h")
        for n, v in ((2**20, 3e9), (2**26, 2.4e10))
    ]
    launch = make_result(case_id="launch", device="cuda:0", benchmark="launch", unit="s", size=1, value=4e-6)
    run = Run(
        run_id=7,
        status="complete",
        started_at="t",
        command="devicefit bench",
        environment=ENVIRONMENT,
        devices=(gpu,),
        results=(*copies, launch),
    )
    figures = {f.id: f for f in scaling_section([run]).figures}
    assert set(figures) == {"transfers-run7-cuda:0", "launch-run7-cuda:0"}
    assert points(figures["transfers-run7-cuda:0"], "h2d (measured)") == [(2**20, 3e9), (2**26, 2.4e10)]
    assert points(figures["launch-run7-cuda:0"], "launch (measured)") == [(1, 4e-6)]

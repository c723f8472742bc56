"""Tables at 80 and 120 columns: every figure whole, no '…', low-priority columns left out first."""

import dataclasses

import pytest
from rich.console import Console

from devicefit import catalog as catalog_module
from devicefit.catalog import load_catalog
from devicefit.records import LayerCost, Prediction, RunSummary
from devicefit.report.catalog import render_catalog, render_catalog_matches
from devicefit.report.devices import render_devices
from devicefit.report.history import render_runs
from devicefit.report.models import render_profile
from devicefit.report.prediction import render_ranking
from devicefit.report.results import render_details, render_results
from devicefit.report.tables import Column, FittedTable, FoldedName
from devicefit.report.units import format_bytes, format_decimal
from tests.unit.store.test_sqlite import DEVICE, make_result

WIDTHS = (80, 120)


def render(renderable, width):
    console = Console(width=width, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def assert_whole(text, figures, width):
    """Every figure appears whole on one line, no line is wider than the console, nothing is elided."""
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= width
    for figure in figures:
        assert figure in text, f"{figure!r} cut or missing at {width} columns:\n{text}"


@pytest.fixture(autouse=True)
def _packaged_catalog_only(monkeypatch):
    monkeypatch.delenv(catalog_module.CATALOG_ENV, raising=False)
    catalog_module.clear_cache()
    yield
    catalog_module.clear_cache()


def test_fitted_table_drops_the_highest_rank_first_and_says_so():
    columns = [
        Column(header="name", wrap=True),
        Column(header="a", justify="right"),
        Column(header="b", justify="right", drop=1),
        Column(header="c", justify="right", drop=2),
    ]
    rows = [("x", "111111111111 FLOP/s", "222222222222 FLOP/s", "333333333333 FLOP/s")]
    wide = render(FittedTable(columns, rows), 120)
    assert "333333333333 FLOP/s" in wide and "not shown" not in wide
    narrow = render(FittedTable(columns, rows), 55)
    assert "111111111111 FLOP/s" in narrow and "222222222222 FLOP/s" in narrow
    assert "333333333333" not in narrow
    assert "not shown at 55 columns: c " in narrow
    assert "…" not in narrow


def test_folded_name_breaks_after_dots_keeping_every_part():
    name = "encoder.layers.encoder_layer_11.self_attention.out_proj"
    table = FittedTable([Column(header="layer", wrap=True, min_width=20)], [(FoldedName(name),)])
    text = render(table, 30)  # a 26-character column
    lines = [line.strip() for line in text.splitlines() if line.strip() and "─" not in line]
    assert lines[1:] == ["encoder.layers.", "encoder_layer_11.", "self_attention.out_proj"]


@pytest.mark.parametrize("width", WIDTHS)
def test_catalog_list_keeps_every_figure_whole(width):
    devices = load_catalog().devices
    text = render(render_catalog(devices), width)
    figures = [format_bytes(d.memory_bytes) for d in devices if d.memory_bytes]
    figures += [format_decimal(d.bandwidth_bytes_per_s, "B/s") for d in devices if d.bandwidth_bytes_per_s]
    figures += [
        format_decimal(d.peak_flops_per_s["bf16"], "FLOP/s") for d in devices if "bf16" in d.peak_flops_per_s
    ]
    assert_whole(text, figures, width)
    for device in devices:  # ids fold at their hyphens at worst
        assert all(part in text for part in device.id.split("-")), device.id
    if width == 80:
        assert "not shown at 80 columns: tf32, TDP, price" in text
    else:
        assert "TFLOP/s" in text and "$1.84/h" in text and "not shown" not in text


@pytest.mark.parametrize("width", WIDTHS)
def test_catalog_show_keeps_every_figure_whole(width):
    catalog = load_catalog()
    devices = catalog.resolve("h100")
    text = render(render_catalog_matches("h100", devices, catalog.sources), width)
    figures = [format_bytes(d.memory_bytes) for d in devices if d.memory_bytes]
    figures += [
        format_decimal(v, "FLOP/s") for d in devices for k, v in d.peak_flops_per_s.items() if k != "int8"
    ]
    if width == 120:  # the value as stored is the first column left out
        figures += [str(d.memory_bytes) for d in devices if d.memory_bytes]
    assert_whole(text, figures, width)


def _cost():
    from devicefit.analyze.cost import analyze_model

    cost = analyze_model("mlp", 8)
    long = tuple(
        LayerCost(
            name=f"stages.{i}.blocks.{i + 10}.attention.qkv_projection",
            type="NonDynamicallyQuantizableLinear",
            num_parameters=123_456_789 + i,
            forward_flops=1.234e12 + i * 1e10,
            backward_flops=2.468e12,
            bytes_moved=3.5e9,
            activation_bytes=7.25e8,
        )
        for i in range(4)
    )
    return dataclasses.replace(cost, layers=long)


@pytest.mark.parametrize("width", WIDTHS)
def test_profile_layer_names_fold_and_figures_stay_whole(width):
    cost = _cost()
    text = render(render_profile(cost, layers=0), width)
    figures = ["1.23 TFLOP", "1.24 TFLOP", "2.47 TFLOP"]
    figures += [format_decimal(c.forward_flops, "FLOP") for c in cost.classes]
    assert_whole(text, figures, width)
    # Names wrap after a dot: every part whole, the distinctive tail kept.
    assert "stages.3.blocks.13." in text and "qkv_projection" in text


def _prediction(name, step_s, fits=True):
    return Prediction(
        model="resnet50",
        device=name.lower().replace(" ", "-"),
        device_name=f"NVIDIA {name} (some long qualifier)",
        batch_size=32,
        precision="fp32",
        mode="train",
        step_time_s=step_s,
        forward_s=step_s / 3,
        backward_s=step_s / 2,
        optimizer_s=step_s / 6,
        transfer_s=0.0,
        compute_s=step_s / 2,
        memory_s=step_s / 2.1,
        overhead_s=0.0,
        breakdown=(),
        peak_memory_bytes=2.78 * 2**30,
        memory_capacity_bytes=80 * 2**30,
        fits=fits,
        max_batch_size=1_155_000,
        error_band=0.35,
        calibration="defaults",
        origin="defaults",
    )


@pytest.mark.parametrize("width", WIDTHS)
def test_predict_ranking_of_several_devices_keeps_names_and_figures(width):
    names = ["H100 SXM5 80GB", "GeForce RTX 4090 Laptop GPU with a long marketing name", "T4"]
    predictions = [_prediction(n, 0.0134 * (i + 1)) for i, n in enumerate(names)]
    text = render(render_ranking(predictions), width)
    assert_whole(text, ["13.4 ms", "26.8 ms", "40.2 ms", "1,155,000", "2,388"], width)
    assert "marketing" in text and "name" in text


@pytest.mark.parametrize("width", WIDTHS)
def test_details_history_results_and_devices_fit(width):
    results = [
        make_result(f"matmul.fp32.{n}", size=n, device="cuda:0" if n > 512 else "cpu")
        for n in (256, 512, 1024)
    ]
    details = render(render_details(results), width)
    assert_whole(details, ["120 GFLOP/s", "280 µs", "270 µs", "3.6%"], width)
    assert "matmul.fp32." in details and "1024" in details

    table = render(render_results(results), width)
    assert_whole(table, ["120 GFLOP/s"], width)

    runs = [
        RunSummary(
            run_id=12345,
            status="complete",
            started_at="2026-11-22T21:50:54+00:00",
            ended_at=None,
            command="devicefit bench --suite all --device cpu,cuda:0,cuda:1 --label 'after the BIOS update'",
            label=None,
            hostname="lab-box",
            devices=("cpu", "cuda:0", "cuda:1"),
            num_results=1234,
        )
    ]
    history = render(render_runs(runs), width)
    assert_whole(history, ["12345", "2026-11-22 21:50:54", "1234"], width)

    devices = render(render_devices([DEVICE]), width)
    assert_whole(devices, ["157 GFLOP/s"], width)

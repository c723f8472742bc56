"""Formatting, JSON and CSV views, and terminal tables rendered at a fixed width."""

import csv
import io

import pytest
from rich.console import Console

from devicefit.records import Run
from devicefit.report.devices import render_devices
from devicefit.report.export import CSV_COLUMNS, device_to_dict, result_to_dict, run_to_csv, run_to_dict
from devicefit.report.results import render_details, render_results
from devicefit.report.units import format_bytes, format_count, format_decimal, format_percent, format_value
from tests.unit.store.test_sqlite import DEVICE, ENVIRONMENT, make_result


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (1.533e11, "FLOP/s", "153 GFLOP/s"),
        (2.3e10, "B/s", "23.0 GB/s"),
        (989.4e12, "FLOP/s", "989 TFLOP/s"),
        (3.82e-6, "s", "3.82 µs"),
        (0.0153, "s", "15.3 ms"),
        (6.4e8, "elements/s", "640 Melem/s"),
        (12.0, "B/s", "12.0 B/s"),
    ],
)
def test_values_get_a_readable_prefix(value, unit, text):
    assert format_value(value, unit) == text


def test_sizes_counts_and_percentages():
    assert format_bytes(32 * 2**20) == "32.0 MiB"
    assert format_bytes(512) == "512 B"
    assert format_count(10_000_000) == "10M"
    assert format_count(3162) == "3.16k"
    assert format_percent(0.973) == "97%"
    assert format_percent(0.0123) == "1.2%"
    assert format_decimal(0.0, "B/s") == "0 B/s"


def run_with(results):
    return Run(
        run_id=7,
        status="complete",
        started_at="2026-11-22T21:00:00+00:00",
        command="devicefit bench",
        environment=ENVIRONMENT,
        devices=(DEVICE,),
        results=tuple(results),
    )


def test_json_views_carry_the_contract_fields():
    device = device_to_dict(DEVICE)
    assert {"id", "kind", "name", "peak_flops_per_s", "peak_bandwidth_bytes_per_s"} <= set(device)
    assert device["peak_flops_per_s"] == {"fp32": 1.568e11}
    result = result_to_dict(make_result())
    assert {"device", "benchmark", "dtype", "size", "value", "unit", "median_s"} <= set(result)
    assert "samples_s" not in result
    assert len(result_to_dict(make_result(), samples=True)["samples_s"]) == 5
    run = run_to_dict(run_with([make_result()]), samples=True)
    assert run["run_id"] == 7 and run["results"][0]["samples_s"]


def test_csv_has_one_row_per_result():
    text = run_to_csv(
        run_with([make_result(), make_result("matmul.fp32.512", status="oom", value=None, measurement=None)])
    )
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert [r["case_id"] for r in rows] == ["matmul.fp32.256", "matmul.fp32.512"]
    assert rows[0]["shape"] == "256x256x256"
    assert rows[1]["status"] == "oom" and rows[1]["value"] == ""


def test_csv_of_a_model_benchmark_names_the_model_batch_and_memory():
    step = make_result(
        "train_step.resnet18.b8",
        benchmark="train_step",
        unit="samples/s",
        model="resnet18",
        batch_size=8,
        peak_memory_bytes=123_456_789,
    )
    (row,) = csv.DictReader(io.StringIO(run_to_csv(run_with([step]))))
    assert (row["model"], row["batch_size"], row["peak_memory_bytes"]) == ("resnet18", "8", "123456789")


def render(renderable, width=100):
    console = Console(width=width, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_results_table_shows_value_fraction_of_peak_and_status():
    text = render(
        render_results(
            [
                make_result(),
                make_result("matmul.fp32.1024", size=1024, status="skipped", value=None, measurement=None),
            ]
        )
    )
    assert "Matrix multiply" in text
    assert "120 GFLOP/s 77%" in text  # 1.2e11 of 1.568e11
    assert "skipped" in text
    assert "noisy" in text  # the sample result carries a warning


def test_devices_table_shows_peak_and_its_derivation():
    text = render(render_devices([DEVICE]))
    assert "157 GFLOP/s = 2 x 8 x 2 x 2 x 2.45 GHz" in text


def test_details_list_every_warning():
    assert "only 5 samples" in render(render_details([make_result()]), width=160)

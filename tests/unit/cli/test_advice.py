"""``crossover`` and ``plan``: their JSON contracts, a plan with no feasible candidate, one-line errors."""

import json

import pytest

from tests.unit.cli.test_predict import one_line_error
from tests.unit.predict.helpers import invoke


@pytest.fixture()
def db(tmp_path):
    return str(tmp_path / "a.db")


def test_crossover_json_contract(db):
    result = invoke(
        "crossover", "mlp", "--device", "cpu,nvidia-t4", "--batch", "1,64", "--infer", "--json", "--db", db
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["model"], data["mode"], data["batch_sizes"]) == ("mlp", "infer", [1, 64])
    devices = {d["device"]: d for d in data["devices"]}
    assert set(devices) == {"cpu", "nvidia-t4"}
    for device in devices.values():
        assert [p["batch_size"] for p in device["points"]] == [1, 64]
        for p in device["points"]:
            assert p["samples_per_s"] == pytest.approx(p["batch_size"] / p["step_time_s"])
            assert p["bound"] in ("launch", "copy", "compute", "memory")
            assert "measured_step_time_s" not in p
    assert all(p["copy_s"] == 0 for p in devices["cpu"]["points"])
    assert all(p["copy_s"] > 0 for p in devices["nvidia-t4"]["points"])
    (crossover,) = data["crossovers"]
    assert (crossover["gpu"], crossover["cpu"]) == ("nvidia-t4", "cpu")
    assert crossover["batch_size"] in (None, 64)
    assert (crossover["batch_size"] is None) == (crossover["winner"] is not None)
    assert crossover["reason"].startswith(("nvidia-t4", "cpu"))


def plan_json(db, *args):
    result = invoke("plan", "mlp", "--device", "cpu,nvidia-t4,aws/p3.2xlarge", "--json", "--db", db, *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_plan_json_contract_and_costs(db):
    data = plan_json(db, "--samples", "60000", "--epochs", "2")
    assert data["model"] == "mlp" and data["objective"] == "cost"
    assert data["constraints"]["samples"] == 60000
    names = {c["instance"] or c["device"] for c in data["candidates"]}
    # T4 is priced on AWS's g4dn and GCP's n1 instances; p3.2xlarge was named alone.
    assert {"cpu", "aws/p3.2xlarge", "aws/g4dn.xlarge"} <= names
    for c in data["candidates"]:
        assert c["cost_usd"] == pytest.approx(
            c["time_s"] / 3600 * c["price_usd_per_h"] * c["num_instances"], rel=0.01
        )
        assert c["price_source"] and c["price_date"]
        assert c["reason"]
        assert c["fits"] and c["feasible"]
    feasible = [c for c in data["candidates"] if c["feasible"]]
    cheapest = min(feasible, key=lambda c: c["cost_usd"])
    assert data["pick"] == (cheapest["instance"] or cheapest["device"])
    fastest = min(feasible, key=lambda c: c["time_s"])
    assert plan_json(db, "--samples", "60000", "--objective", "time")["pick"] == (
        fastest["instance"] or fastest["device"]
    )


def test_a_deadline_nothing_meets_is_none_with_the_closest(db):
    data = plan_json(db, "--samples", "60000000", "--epochs", "90", "--deadline", "1s")
    assert data["pick"] is None
    assert data["closest"]
    assert all("misses the deadline by" in c["reason"] for c in data["candidates"])


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--samples", "0"), "--samples must be positive"),
        (("--samples", "10", "--deadline", "soon"), "deadline 'soon' is not a duration"),
        (("--samples", "10", "--budget", "lots"), "budget 'lots' is not an amount"),
        (("--samples", "10", "--device", "aws/p99.huge"), "unknown instance 'aws/p99.huge'"),
        (("--samples", "10", "--device", "nvidia-t9000"), "nvidia-t9000"),
        (("--samples", "10", "--objective", "speed"), "unknown objective 'speed'"),
    ],
)
def test_plan_bad_input_is_one_line(db, args, words):
    line = one_line_error(invoke("plan", "mlp", "--db", db, *args), 2)
    assert words in line


def test_a_malformed_price_file_is_named_by_file_entry_and_field(db, tmp_path):
    prices = tmp_path / "prices.toml"
    prices.write_text('[[instances]]\nid = "aws/p3.2xlarge"\nusd_per_hour = -1\ndate = "2026-01"\n')
    line = one_line_error(invoke("plan", "mlp", "--samples", "10", "--prices", str(prices), "--db", db), 2)
    assert str(prices) in line and "aws/p3.2xlarge" in line and "usd_per_hour" in line


def test_crossover_bad_batch_is_one_line(db):
    line = one_line_error(invoke("crossover", "mlp", "--batch", "1,zero", "--db", db), 2)
    assert "batch size 'zero'" in line


def crossover_json(db, *args):
    result = invoke("crossover", "mlp", "--device", "cpu,nvidia-t4", "--infer", "--json", "--db", db, *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_width_sweep_keys_its_points_and_crossovers_by_width(db):
    data = crossover_json(db, "--sweep", "width", "--widths", "64,32", "--batch", "4")
    assert (data["sweep"], data["widths"], data["batch_sizes"]) == ("width", [32, 64], [4])
    for device in data["devices"]:
        assert [(p["width"], p["batch_size"]) for p in device["points"]] == [(32, 4), (64, 4)]
        assert all(p["samples_per_s"] == pytest.approx(4 / p["step_time_s"]) for p in device["points"])
    cpu = {p["width"]: p["step_time_s"] for p in data["devices"][0]["points"]}
    assert cpu[64] > cpu[32]  # the wider MLP is more work
    (crossover,) = data["crossovers"]
    assert "batch_size" not in crossover and crossover["width"] in (None, 64)
    assert (crossover["width"] is None) == (crossover["winner"] is not None)
    assert "width" in crossover["reason"] and "at batch 4" in crossover["reason"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("resnet18", "--sweep", "width"), "resnet18 has no width to sweep"),
        (("mlp", "--sweep", "depth"), "unknown sweep 'depth'"),
        (("mlp", "--widths", "64"), "--widths needs --sweep width"),
        (("mlp", "--sweep", "width", "--batch", "1,2"), "a width sweep runs at one batch size"),
        (("mlp", "--sweep", "width", "--widths", "0"), "width '0' is not a positive integer"),
    ],
)
def test_crossover_bad_sweep_is_one_line(db, args, words):
    line = one_line_error(invoke("crossover", *args, "--device", "nvidia-t4", "--db", db), 2)
    assert words in line


def test_a_crossover_is_stored_and_show_prints_it_again(db):
    answer = crossover_json(db, "--batch", "1,64")
    assert answer["run_id"] is not None
    history = json.loads(invoke("history", "--json", "--db", db).stdout)["runs"]
    assert [(r["run_id"], r["status"]) for r in history] == [(answer["run_id"], "complete")]
    assert history[0]["command"].startswith("devicefit")
    stored = json.loads(invoke("show", str(answer["run_id"]), "--json", "--db", db).stdout)
    assert stored["crossover"] == answer
    shown = invoke("show", "--db", db)
    printed = invoke(
        "crossover", "mlp", "--device", "cpu,nvidia-t4", "--infer", "--batch", "1,64", "--db", db
    )
    # The same table and sentences as the command printed (its run header aside).
    assert shown.exit_code == 0 and printed.stdout in shown.stdout


def test_a_plan_is_stored_and_show_prints_it_again(db):
    answer = plan_json(db, "--samples", "60000")
    stored = json.loads(invoke("show", "latest", "--json", "--db", db).stdout)
    assert stored["plan"] == answer and stored["results"] == []
    printed = invoke(
        "plan", "mlp", "--device", "cpu,nvidia-t4,aws/p3.2xlarge", "--samples", "60000", "--db", db
    )
    shown = invoke("show", "latest", "--db", db)
    assert printed.exit_code == 0 and shown.exit_code == 0
    assert printed.stdout in shown.stdout

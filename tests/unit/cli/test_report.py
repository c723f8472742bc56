"""``devicefit report`` on the command line: the file written, its path and size, JSON, one-line errors."""

import json

from typer.testing import CliRunner

from devicefit.cli import app
from tests.unit.report.recorded_store import recorded_store

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, list(args), env={"COLUMNS": "120"})


def test_report_writes_one_html_file_and_prints_its_path_and_size(tmp_path):
    store, ids = recorded_store(tmp_path / "runs.db")
    store.close()
    output = tmp_path / "out.html"
    result = invoke("report", str(ids[0]), "--db", str(tmp_path / "runs.db"), "--output", str(output))
    assert result.exit_code == 0, result.output
    size = output.stat().st_size
    assert result.stdout.strip() == f"wrote {output} ({size / 2**20:.2f} MiB)"
    page = output.read_text()
    assert page.startswith("<!DOCTYPE html>") and 'id="roofline"' in page
    assert "with <code>devicefit" in page  # the command line in the footer (the test runner's argv here)


def test_report_json_prints_what_it_wrote_and_format_json_writes_the_data(tmp_path):
    recorded_store(tmp_path / "runs.db")[0].close()
    output = tmp_path / "out.json"
    result = invoke(
        "report", "--db", str(tmp_path / "runs.db"), "-o", str(output), "--format", "json", "--json"
    )
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed == {"output": str(output), "format": "json", "bytes": output.stat().st_size}
    data = json.loads(output.read_text())
    # No run named: the latest benchmark run (the second recording), never the validate run.
    assert [r["run_id"] for r in data["runs"]] == [2]
    assert "roofline" in [s["id"] for s in data["sections"]]


def test_report_of_an_empty_store_is_a_one_line_error_naming_the_fix(tmp_path):
    result = invoke("report", "--db", str(tmp_path / "empty.db"), "-o", str(tmp_path / "r.html"))
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "devicefit bench --quick" in lines[0] and "Traceback" not in result.stderr
    assert not (tmp_path / "r.html").exists()


def test_report_rejects_an_unknown_option_and_an_unknown_run(tmp_path):
    recorded_store(tmp_path / "runs.db")[0].close()
    assert invoke("report", "--bogus", "--db", str(tmp_path / "runs.db")).exit_code == 2
    missing = invoke("report", "99", "--db", str(tmp_path / "runs.db"))
    assert missing.exit_code != 0 and "no run 99" in missing.stderr


def test_a_report_with_a_model_adds_no_run_to_the_history(tmp_path, monkeypatch):
    monkeypatch.setenv("DEVICEFIT_CACHE_DIR", str(tmp_path / "cache"))
    store, _ = recorded_store(tmp_path / "runs.db")
    before = [s.run_id for s in store.list_runs()]
    store.close()
    output = tmp_path / "out.json"
    result = invoke(
        "report", "--db", str(tmp_path / "runs.db"), "--model", "mlp", "--device", "t4",
        "-o", str(output), "--format", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(output.read_text())
    crossover = next(s for s in data["sections"] if s["id"] == "crossover")
    assert crossover["figures"][0]["title"].startswith("Crossover of mlp")
    from devicefit.store.sqlite import open_store

    with open_store(tmp_path / "runs.db") as store:
        assert [s.run_id for s in store.list_runs()] == before

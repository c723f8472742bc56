"""Stored runs through the command line: -N references, abandoned and terminated runs, export, and parser
errors as one line."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from devicefit.app import session
from devicefit.cli import app

runner = CliRunner()

FAKE_QUICK = ["bench", "--device", "fake", "--quick"]


def invoke(*args, env=None):
    return runner.invoke(app, list(args), env={"COLUMNS": "120", **(env or {})})


def one_line_error(result, code):
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "Traceback" not in result.stderr
    return lines[0]


def test_show_and_export_take_minus_n_for_the_n_th_latest_run():
    first = json.loads(invoke(*FAKE_QUICK, "--only", "launch", "--json").stdout)["run_id"]
    second = json.loads(invoke(*FAKE_QUICK, "--only", "triad", "--json").stdout)["run_id"]

    shown = invoke("show", "-1", "--json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["run_id"] == second
    assert json.loads(invoke("show", "--json", "-2").stdout)["run_id"] == first

    exported = invoke("export", "-2", "--format", "csv")
    assert exported.exit_code == 0, exported.output
    header, *rows = exported.stdout.splitlines()
    assert header.startswith("run_id,") and rows and all(row.startswith(f"{first},") for row in rows)


def test_an_unknown_option_of_show_is_still_one_line_with_a_suggestion():
    invoke(*FAKE_QUICK, "--only", "launch")
    line = one_line_error(invoke("show", "--detials"), 2)
    assert "no such option: --detials" in line and "--details" in line and "devicefit show --help" in line


def test_a_value_of_the_wrong_type_is_one_line_naming_it():
    line = one_line_error(invoke("bench", "--device", "fake", "--batch", "abc"), 2)
    assert "'abc'" in line and "--batch" in line and "integer" in line
    assert "devicefit bench --help" in line


def test_an_unknown_option_of_the_root_is_one_line():
    line = one_line_error(invoke("--bogus"), 2)
    assert "no such option: --bogus" in line


def test_a_database_directory_is_one_line_naming_its_source(tmp_path):
    line = one_line_error(invoke("history", "--db", str(tmp_path)), 2)
    assert f"--db={tmp_path} is a directory" in line and str(tmp_path / "devicefit.db") in line
    line = one_line_error(invoke("history", env={"DEVICEFIT_DB": str(tmp_path)}), 2)
    assert f"DEVICEFIT_DB={tmp_path} is a directory" in line


def test_a_garbage_database_name_creates_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = one_line_error(invoke("history", env={"DEVICEFIT_DB": "garbage"}), 2)
    assert "DEVICEFIT_DB=garbage is not a database file name" in line and ".db" in line
    assert list(tmp_path.iterdir()) == []


def test_history_limit_0_lists_every_run():
    for _ in range(2):
        invoke(*FAKE_QUICK, "--only", "launch")
    result = invoke("history", "--limit", "0", "--json")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["runs"]) == 2
    assert "no runs yet" not in invoke("history", "--limit", "0").stderr


def test_export_json_prints_the_run_or_what_it_wrote(tmp_path):
    run_id = json.loads(invoke(*FAKE_QUICK, "--only", "launch", "--json").stdout)["run_id"]
    printed = invoke("export", "--json")
    assert printed.exit_code == 0, printed.output
    assert json.loads(printed.stdout)["results"][0]["samples_s"]

    target = tmp_path / "run.csv"
    written = invoke("export", "-f", "csv", "-o", str(target), "--json")
    assert written.exit_code == 0, written.output
    assert json.loads(written.stdout) == {"run_id": run_id, "format": "csv", "output": str(target)}
    assert target.read_text().startswith("run_id,")

    line = one_line_error(invoke("export", "--json", "-f", "csv"), 2)
    assert "--output" in line


def test_help_shows_no_value_type_beside_switches():
    for command in (["show"], ["bench"], ["history"], ["catalog", "list"], []):
        text = invoke(*command, "--help").stdout
        assert "--json" in text or "--debug" in text
        assert "<bool>" not in text, command


def test_sigterm_ends_a_bench_as_ctrl_c_does(monkeypatch):
    real_execute = session.execute

    def terminated_after_two(*args, **kwargs):
        for number, result in enumerate(real_execute(*args, **kwargs)):
            if number == 2:
                os.kill(os.getpid(), signal.SIGTERM)
            yield result

    handler = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(session, "execute", terminated_after_two)
    result = invoke(*FAKE_QUICK, "--only", "matmul")
    assert result.exit_code == 130
    assert "interrupted" in result.stderr
    (run,) = json.loads(invoke("history", "--json").stdout)["runs"]
    assert run["status"] == "interrupted" and run["num_results"] >= 2
    assert signal.getsignal(signal.SIGTERM) is handler


def stored_results(path):
    """How many results the database at ``path`` holds, without creating it."""
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            return db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.mark.skipif(sys.platform == "win32", reason="kill -9 is POSIX")
def test_kill_9_of_a_bench_leaves_it_abandoned_with_its_results(_isolated_db):
    bench = subprocess.Popen(
        [sys.executable, "-m", "devicefit", "bench", "--device", "fake"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while stored_results(_isolated_db) == 0 and bench.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert bench.poll() is None, "the bench ended before it could be killed"
        bench.send_signal(signal.SIGKILL)
    finally:
        bench.kill()
        bench.wait()

    (run,) = json.loads(invoke("history", "--json").stdout)["runs"]
    assert run["status"] == "abandoned" and run["num_results"] >= 1
    assert run["pid"] == bench.pid
    shown = invoke("show", "-1")
    assert f"abandoned (process {bench.pid} died without ending it)" in shown.stdout


def test_a_running_run_shows_its_host():
    import dataclasses

    from devicefit.records import DeviceDescription
    from devicefit.store.sqlite import open_store
    from tests.unit.store.test_sqlite import ENVIRONMENT

    environment = dataclasses.replace(ENVIRONMENT, hostname="gpu-node-7")
    device = DeviceDescription(id="cpu", kind="cpu", name="x", vendor="x", memory_bytes=1, peaks=())
    with open_store() as store:
        store.start_run(command="devicefit bench", environment=environment, devices=(device,))
    assert "running on gpu-node-7" in invoke("history").stdout


def test_a_columns_value_that_is_no_number_is_ignored(tmp_path):
    result = runner.invoke(app, ["history", "--db", str(tmp_path / "r.db")], env={"COLUMNS": "abc"})
    assert result.exit_code == 0, result.output


def test_bench_history_and_show_on_a_postgres_database(postgres_db, monkeypatch):
    stored = json.loads(invoke(*FAKE_QUICK, "--only", "launch", "--db", postgres_db, "--json").stdout)

    listed = invoke("history", "--db", postgres_db, "--json")
    assert listed.exit_code == 0, listed.output
    (run,) = json.loads(listed.stdout)["runs"]
    assert (run["run_id"], run["status"], run["num_results"]) == (stored["run_id"], "complete", 1)
    shown = invoke("show", "-1", "--json", env={"DEVICEFIT_DB": postgres_db})
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["results"] == stored["results"]
    table = invoke("history", env={"DEVICEFIT_DB": postgres_db})
    assert table.exit_code == 0 and "complete" in table.stdout


def test_an_unreachable_postgres_database_is_one_line(postgres_server):
    url = postgres_server.rsplit("/", 1)[0] + "/no_such_database"
    line = one_line_error(invoke("history", "--db", url), 1)
    assert "cannot reach the database" in line and "no_such_database" in line

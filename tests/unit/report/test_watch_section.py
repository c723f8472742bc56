"""A watch session named to ``report`` is drawn: its samples as stored, its diagnosis in the caption."""

from devicefit.app.report import report
from devicefit.records import WatchFinding, WatchOutcome
from devicefit.report.html import build_sections, render_html
from devicefit.store.sqlite import open_store
from tests.unit.diagnose.test_watch import gpu, sample
from tests.unit.report.recorded_store import HOSTILE
from tests.unit.store.test_sqlite import ENVIRONMENT


def test_a_watch_session_is_drawn_from_the_stored_samples(tmp_path):
    samples = [sample(0.5 * i, cpu=40.0 * i, gpus=(gpu(10.0 * i),)) for i in range(1, 5)]
    with open_store(tmp_path / "runs.db") as store:
        run_id = store.start_run(command=f"devicefit watch -- {HOSTILE}", environment=ENVIRONMENT, devices=())
        store.add_watch_samples(run_id, samples)
        store.add_watch_session(
            WatchOutcome(
                session_id=run_id,
                status="complete",
                command=HOSTILE,
                duration_s=2.0,
                interval_s=0.5,
                samples=tuple(samples),
                gpu_used=True,
                diagnosis=(WatchFinding(finding="GPU idle 60% of the time", evidence="between steps"),),
                num_cores=2,
                exit_code=0,
            )
        )
        content = report(store, [str(run_id)])
    (section,) = [s for s in build_sections(content) if s.id == "watch"]
    (figure,) = section.figures
    cpu, utilization = figure.traces
    assert list(zip(cpu["x"], cpu["y"], strict=True)) == [(s.elapsed_s, s.cpu_percent / 2) for s in samples]
    assert utilization["y"] == [s.gpus[0].utilization_percent for s in samples]
    assert "GPU idle 60% of the time: between steps." in figure.caption
    page = render_html(content)
    assert HOSTILE not in page  # the watched command is shown escaped, never as markup


def test_the_default_run_is_the_latest_bench_not_a_watched_bench_script(tmp_path):
    from tests.unit.report.recorded_store import recorded_store

    store, ids = recorded_store(tmp_path / "runs.db")
    with store:
        benches = [i for i in ids if store.load_run(i).command.split()[1:2] == ["bench"]]
        watched = store.start_run(
            command="devicefit watch -- python bench.py", environment=ENVIRONMENT, devices=()
        )
        store.finish_run(watched, "complete")
        content = report(store)
    assert [r.run_id for r in content.runs] == [benches[-1]]

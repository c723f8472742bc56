"""The local link fitted from measured collectives, and the times it predicts."""

import pytest

from devicefit.measure.timer import TimerConfig
from devicefit.predict.collectives import Link, collective_time_s
from devicefit.predict.links import collective_s, fit_links
from devicefit.records import Measurement, Result, Summary


def _result(benchmark, size, time_s, *, processes=2, status="ok", device="cpu"):
    summary = Summary(
        median_s=time_s, iqr_s=0.0, min_s=time_s, max_s=time_s, mean_s=time_s, cv=0.0, num_samples=5
    )
    return Result(
        device=device,
        benchmark=benchmark,
        case_id=f"{benchmark}.n{processes}.{size}",
        unit="B/s",
        size=size,
        flags=("gloo",),
        num_processes=processes,
        status=status,
        measurement=Measurement(
            samples_s=(time_s,) * 5,
            iterations_per_sample=1,
            overhead_s=0.0,
            num_warmup_iterations=1,
            summary=summary,
        ),
    )


SIZES = [2**10 * 4**k for k in range(9)]


def test_fit_recovers_the_link_that_made_the_times_and_predicts_them():
    true = Link(bus_bytes_per_s=2e9, latency_s=40e-6)
    results = [
        _result("all_reduce", s, collective_time_s("all_reduce", s, 4, true), processes=4) for s in SIZES
    ]
    links = fit_links(results, "cpu")
    link = links["all_reduce"]
    assert (link.num_processes, link.backend) == (4, "gloo")
    assert link.bus_bytes_per_s == pytest.approx(2e9, rel=1e-6)
    assert link.latency_s == pytest.approx(40e-6, rel=1e-6)
    assert collective_s(link, "all_reduce", 2**20, 4) == pytest.approx(
        collective_time_s("all_reduce", 2**20, 4, true)
    )


def test_fit_skips_failed_results_other_devices_and_collectives_with_one_size():
    results = [
        _result("all_reduce", 1024, 1e-4),
        _result("all_reduce", 4096, 2e-4),
        _result("all_reduce", 16384, 1.0, status="error"),
        _result("broadcast", 1024, 1e-4),
        _result("all_gather", 1024, 1e-4, device="cuda:0"),
        _result("all_gather", 4096, 2e-4, device="cuda:0"),
    ]
    links = fit_links(results, "cpu")
    assert set(links) == {"all_reduce"}
    # Two points: 1 KiB and 4 KiB over 2 ranks (factor 1): 3072 bytes more cost 1e-4 s more.
    assert links["all_reduce"].bus_bytes_per_s == pytest.approx(3072 / 1e-4)


def test_calibrate_with_nproc_stores_the_link_with_the_device_model(monkeypatch):
    from devicefit.app import calibrate as calibrate_module
    from devicefit.app import session
    from devicefit.devices import CPUDevice
    from devicefit.measure import comm
    from devicefit.predict import calibration
    from devicefit.store.sqlite import open_store

    # The calibration plan of one cheap case (its fit is not what is tested), the collectives of two sizes
    # far enough apart (1 KiB, 4 MiB) that the larger takes clearly longer whatever the noise.
    def one_case_plan(description, num_threads, quick):
        return session.plan_cases([CPUDevice()], suite="micro", quick=True, only="launch")

    monkeypatch.setattr(calibrate_module, "plan_calibration", one_case_plan)
    monkeypatch.setattr(calibration, "calibration_threads", lambda description: [1])
    monkeypatch.setattr(comm, "QUICK_COMM_SIZES", (2**10, 4 * 2**20))
    monkeypatch.setattr(
        session,
        "COMM_QUICK",
        TimerConfig(warmup_s=0.0, min_time_s=0.0, budget_s=0.02, min_samples=3, min_block_s=1e-4),
    )
    with open_store() as store:
        outcome = calibrate_module.calibrate([CPUDevice()], store, quick=True, num_processes=2)
        (model,) = outcome.fits
        assert set(model.links) <= {"all_reduce", "all_gather", "reduce_scatter", "broadcast"}
        assert model.links["all_reduce"].num_processes == 2
        assert model.links["all_reduce"].bus_bytes_per_s > 0
        stored = store.latest_calibration(
            "cpu", device_name=model.name, hostname=store.list_runs()[0].hostname
        )
        assert stored is not None and stored.links == model.links


def test_a_calibration_stored_before_links_still_loads_without_any():
    import dataclasses
    import json

    from pydantic import TypeAdapter

    from devicefit.records import DeviceModel, EfficiencyCurve

    model = DeviceModel(
        device="cpu",
        name="old cpu",
        kind="cpu",
        asynchronous=False,
        peak_flops_per_s={"fp32": 1e11},
        bandwidth_bytes_per_s=2e10,
        compute={"matmul.fp32": EfficiencyCurve(points=((1.0, 0.5),))},
        memory={},
        op_overhead_s=1e-6,
        backward_op_overhead_s=1e-6,
        view_overhead_s=1e-7,
        module_overhead_s=1e-6,
        conv_overhead_s=1e-6,
        source="test",
        error_band=0.2,
    )
    old = dataclasses.asdict(model)
    del old["links"]
    assert TypeAdapter(DeviceModel).validate_json(json.dumps(old)).links == {}

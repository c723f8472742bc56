"""Collectives between local processes: the plan, and a real gloo group of two processes."""

import json

import pytest
from typer.testing import CliRunner

from devicefit.app import session
from devicefit.cli import app
from devicefit.devices import FakeDevice
from devicefit.errors import UsageError
from devicefit.measure import comm
from devicefit.measure.timer import TimerConfig
from devicefit.predict.collectives import bus_factor
from devicefit.records import DeviceDescription

CPU = DeviceDescription(id="cpu", kind="cpu", name="test cpu", vendor="test", memory_bytes=2**34)
GPU = DeviceDescription(id="cuda:0", kind="cuda", name="test gpu", vendor="nvidia", memory_bytes=2**34)


def test_full_sweep_is_1_kib_to_64_mib_in_x4_steps_for_each_collective():
    cases = comm.plan_comm(CPU, num_processes=2, quick=False, bus_factor=bus_factor)
    all_reduce = [c for c in cases if c.benchmark == "all_reduce"]
    assert [c.size for c in all_reduce] == [2**10 * 4**k for k in range(9)]
    assert {c.benchmark for c in cases} == {"all_reduce", "all_gather", "reduce_scatter", "broadcast"}
    assert all(c.flags == ("gloo",) and c.num_processes == 2 for c in cases)
    # Bus bytes: an all-reduce over 2 ranks moves 2(n-1)/n = 1x its message per rank, a gather 1/2.
    big = next(c for c in all_reduce if c.size == 64 * 2**20)
    assert big.bytes_per_iteration == 64 * 2**20
    gather = next(c for c in cases if c.benchmark == "all_gather" and c.size == 2**10)
    assert gather.bytes_per_iteration == 512


def test_messages_are_whole_elements_split_evenly_across_processes():
    # 1 KiB is 256 fp32 elements: 255 split three ways.
    assert comm.message_bytes(1024, 3) == 255 * 4
    assert comm.message_bytes(1024, 2) == 1024


def test_comm_needs_two_processes_and_as_many_gpus_as_processes():
    with pytest.raises(UsageError, match="2 or more processes"):
        comm.plan_comm(CPU, num_processes=1, quick=True, bus_factor=bus_factor)
    with pytest.raises(UsageError, match="needs 4 GPUs"):
        comm.plan_comm(GPU, num_processes=4, quick=True, bus_factor=bus_factor, gpu_count=2)
    cases = comm.plan_comm(GPU, num_processes=2, quick=True, bus_factor=bus_factor, gpu_count=2)
    assert {c.flags for c in cases} == {("nccl",)}


TINY = TimerConfig(warmup_s=0.0, min_time_s=0.0, budget_s=0.02, min_samples=3, min_block_s=1e-4)


def test_bench_comm_json_gives_bus_bandwidth_of_every_collective_on_two_gloo_processes(monkeypatch):
    monkeypatch.setattr(comm, "QUICK_COMM_SIZES", (2**10, 16 * 2**10))
    monkeypatch.setattr(session, "COMM_QUICK", TINY)
    result = CliRunner().invoke(
        app,
        ["bench", "--suite", "comm", "--device", "cpu", "--quick", "--nproc", "2", "--json"],
        env={"COLUMNS": "120"},
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["results"]
    assert [(r["benchmark"], r["size"]) for r in rows] == [
        (name, size)
        for name in ("all_reduce", "all_gather", "reduce_scatter", "broadcast")
        for size in (1024, 16384)
    ]
    for row in rows:
        assert row["status"] == "ok", row
        assert row["nproc"] == 2 and row["unit"] == "B/s"
        factor = bus_factor(row["benchmark"], 2)
        assert row["value"] == pytest.approx(factor * row["size"] / row["median_s"])
        assert row["energy_note"] and "collective" in row["energy_note"]


def test_comm_suite_on_the_fake_device_names_the_problem():
    with pytest.raises(UsageError, match="suite 'comm' has no case"):
        session.plan_cases([FakeDevice()], suite="comm", quick=True)

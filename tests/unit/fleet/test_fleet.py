"""The fleet benchmark: outliers against the fleet's median, and real Ray clusters on this machine."""

import json
import sys

import pytest
from typer.testing import CliRunner

from devicefit.cli import app
from devicefit.fleet.outliers import flag_outliers
from devicefit.records import DeviceDescription, Environment, NodeBench, Result

ENVIRONMENT = Environment(
    devicefit_version="0",
    python_version="3",
    torch_version="2",
    numpy_version="2",
    platform="linux",
    hostname="h",
    cpu_model="cpu",
    torch_num_threads=1,
)


def _node(name, values, *, cpu="epyc", unit="FLOP/s"):
    device = DeviceDescription(id=f"{name}/cpu", kind="cpu", name=cpu, vendor="amd", memory_bytes=1)
    results = tuple(
        Result(device=device.id, benchmark="matmul", case_id=case, unit=unit, value=value, node=name)
        for case, value in values.items()
    )
    return NodeBench(node=name, environment=ENVIRONMENT, devices=(device,), results=results)


def test_a_node_25_percent_slower_than_the_fleet_median_is_flagged_with_its_slowest_case():
    nodes = [
        _node("a", {"m1": 100.0, "m2": 50.0}),
        _node("b", {"m1": 102.0, "m2": 49.0}),
        # Rates: 60 and 30 take 1/60 and 1/30, against a median of 1/100 and 1/49.
        _node("c", {"m1": 60.0, "m2": 30.0}),
    ]
    a, b, c = flag_outliers(nodes)
    assert a.outlier is None and b.outlier is None
    assert c.outlier and c.outlier.startswith("c/cpu: 1.65x") and "slowest m1: 1.67x" in c.outlier


def test_times_count_the_other_way_and_unshared_devices_are_never_judged():
    nodes = [
        _node("a", {"launch": 1e-6}, unit="s"),
        _node("b", {"launch": 3e-6}, unit="s"),
        _node("c", {"launch": 9e-6}, unit="s", cpu="xeon"),
    ]
    a, b, c = flag_outliers(nodes)
    # The fleet median of 1 us and 3 us is 2 us: b takes 1.5x, a 0.5x; c's CPU has no peer.
    assert a.outlier is None and c.outlier is None
    assert b.outlier and "1.50x" in b.outlier


def test_fleet_without_ray_names_the_install(monkeypatch):
    from devicefit.fleet import ray as fleet_ray

    monkeypatch.setattr(fleet_ray, "is_ray_installed", lambda: False)
    result = CliRunner().invoke(app, ["fleet", "bench", "--address", "local"])
    assert result.exit_code == 2
    assert "devicefit[fleet]" in result.output


def test_an_unknown_suite_is_refused_before_joining_the_cluster(monkeypatch, tmp_path):
    from devicefit.app import fleet as app_fleet

    def never(*_):
        raise AssertionError("joined the cluster for a suite that does not exist")

    monkeypatch.setattr(app_fleet, "connected", never)
    result = CliRunner().invoke(
        app, ["fleet", "bench", "--address", "local", "--suite", "nope", "--db", str(tmp_path / "r.db")]
    )
    assert result.exit_code == 2, result.output
    assert "unknown suite 'nope'" in result.output and "Choose from: quick, micro" in result.output


def throttled_bench(node, request):
    """Runs on a node: on the one labelled ``throttled``, every benchmark call does its work four times."""
    import ray

    from devicefit.app.fleet import bench_node
    from devicefit.measure import runner

    resources = next(n["Resources"] for n in ray.nodes() if n["NodeID"] == node.node_id)
    if "throttled" in resources:
        build = runner.build_call

        def slow_build(case, device):
            call = build(case, device)

            def slow():
                for _ in range(4):
                    call()

            return slow

        runner.build_call = slow_build
    return bench_node(node, request)


@pytest.mark.ray
def test_two_simulated_nodes_store_one_run_and_the_throttled_one_is_flagged():
    ray = pytest.importorskip("ray", reason="ray is not installed: pip install 'devicefit[fleet]'")
    from ray.cluster_utils import Cluster

    from devicefit.app.fleet import NodeRequest, fleet_bench
    from devicefit.store.sqlite import open_store

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1, resources={"throttled": 1})
    try:
        ray.init(address=cluster.address, log_to_driver=False)
        with open_store() as store:
            outcome = fleet_bench(
                "unused",
                store,
                NodeRequest(suite="quick", only="launch,view", device="cpu"),
                job=throttled_bench,
            )
            run = store.load_run(outcome.run_id)
    finally:
        ray.shutdown()
        cluster.shutdown()
    assert len(outcome.nodes) == 2
    fast, slow = sorted(outcome.nodes, key=lambda n: n.outlier is not None)
    assert fast.outlier is None
    assert slow.outlier and slow.outlier.startswith(f"{slow.node}/cpu:")
    # One run holds both nodes' results, each tagged with its node and a node-qualified device.
    assert {r.node for r in run.results} == {fast.node, slow.node}
    assert all(r.device == f"{r.node}/cpu" for r in run.results)
    assert {d.id for d in run.devices} == {f"{fast.node}/cpu", f"{slow.node}/cpu"}


@pytest.mark.ray
def test_fleet_bench_local_json_contract():
    pytest.importorskip("ray", reason="ray is not installed: pip install 'devicefit[fleet]'")
    result = CliRunner().invoke(
        app, ["fleet", "bench", "--address", "local", "--only", "launch", "--device", "cpu", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert isinstance(data["run_id"], int)
    (node,) = data["nodes"]
    assert node["devices"] == [f"{node['node']}/cpu"]
    assert node["results"] == 1 and node["outlier"] is None
    history = json.loads(CliRunner().invoke(app, ["history", "--json"]).stdout)
    assert history["runs"][0]["run_id"] == data["run_id"]

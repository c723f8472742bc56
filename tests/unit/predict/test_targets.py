"""Resolving ``--device``: catalog names, local devices and their calibrations."""

import dataclasses
import socket

import pytest

from devicefit.errors import UsageError
from devicefit.predict.calibration import fit_device_model
from devicefit.predict.devices import catalog_default_model, local_default_model
from devicefit.predict.targets import needs_local_devices, resolve_targets
from devicefit.records import DeviceDescription, Peak
from devicefit.store.sqlite import Store
from tests.unit.predict.helpers import CPU, ENVIRONMENT, H100_SXM, H200, calibration_results


def resolve(query, catalog, **kwargs):
    kwargs.setdefault("local_devices", ())
    kwargs["calibrations"] = stored_calibrations(kwargs.pop("store", None), kwargs["local_devices"])
    return resolve_targets(query, catalog=catalog, **kwargs)


def stored_calibrations(store, devices):
    """What the CLI reads from the store for ``resolve_targets``: each local device's calibrations here."""
    if store is None:
        return None
    host = socket.gethostname()
    return {d.id: store.calibrations(d.id, device_name=d.name, hostname=host) for d in devices}


def calibrated(store):
    """What the CLI reads from the store for ``needs_local_devices``."""
    return None if store is None else store.calibrated_devices(socket.gethostname())


def test_catalog_names_resolve(catalog):
    ids = [t.model.device for t in resolve("h100", catalog).targets]
    assert ids == ["nvidia-h100-pcie-80gb", H100_SXM, "nvidia-h100-nvl"]
    (target,) = resolve("a100 80gb pcie", catalog).targets
    assert target.model.device == "nvidia-a100-80gb-pcie"
    assert (target.local, target.memory_kind, target.architecture) == (False, "cuda", "ampere")
    # Comma-separated, duplicates once.
    ids = [t.model.device for t in resolve("h100-sxm, h200, nvidia-h100-sxm5-80gb", catalog).targets]
    assert ids == [H100_SXM, H200]


def test_unknown_names_are_usage_errors(catalog):
    with pytest.raises(UsageError, match="no catalog device matches 'nosuchgpu'"):
        resolve("nosuchgpu", catalog)
    with pytest.raises(UsageError) as raised:
        resolve("nvidia-a100-80gb-pcei", catalog)
    assert "Did you mean" in raised.value.fix and "nvidia-a100-80gb-pcie" in raised.value.fix
    with pytest.raises(UsageError, match=r"no device 'cuda' \(found: none\)"):
        resolve("cuda", catalog)


def test_all_predicts_every_catalog_device_with_figures(catalog):
    resolution = resolve("all", catalog)
    skipped = {device for device, _ in resolution.skipped}
    assert skipped == {"nvidia-b200", "apple-m2-max-gpu", "apple-m3-max-gpu", "apple-m3-max-cpu"}
    assert all("fp32 peak" in reason for _, reason in resolution.skipped)
    predicted = [t.model.device for t in resolution.targets]
    assert sorted(predicted + sorted(skipped)) == sorted(d.id for d in catalog.devices)
    assert all(t.model.origin == "defaults" for t in resolution.targets)


GPU = DeviceDescription(
    id="cuda:0",
    kind="cuda",
    name="NVIDIA H100 80GB HBM3",
    vendor="nvidia",
    memory_bytes=85_899_345_920,
    peaks=(Peak(dtype="fp32", flops_per_s=66.9e12, derivation="catalog"),),
    peak_bandwidth_bytes_per_s=3.35e12,
    catalog_id=H100_SXM,
)


@pytest.fixture
def here(tmp_path):
    """A store with one run on this host."""
    store = Store(tmp_path / "here.db")
    environment = dataclasses.replace(ENVIRONMENT, hostname=socket.gethostname())
    run_id = store.start_run(command="devicefit calibrate", environment=environment, devices=(CPU, GPU))
    yield store, run_id
    store.close()


def test_local_cpu_uses_its_calibration(catalog, here):
    store, run_id = here
    fitted = fit_device_model(calibration_results(), CPU, num_threads=2, source="devicefit calibrate, run 1")
    store.add_calibration(run_id, fitted)
    (target,) = resolve("local", catalog, local_devices=(CPU,), store=store).targets
    assert target.model == fitted
    assert (target.local, target.memory_kind, target.notes) == (True, "cpu", ())
    assert target.model.origin == "calibrated"
    # Asking for a thread count never calibrated falls back to the calibrated one, and says so.
    (target,) = resolve("cpu", catalog, local_devices=(CPU,), store=store, num_threads=1).targets
    assert target.model == fitted
    assert "calibrated with 2 threads, not 1" in target.notes[0]


def test_uncalibrated_local_cpu_says_to_calibrate(catalog, here):
    store, _ = here
    (target,) = resolve("local", catalog, local_devices=(CPU,), store=store).targets
    assert target.model.origin == "defaults"
    assert target.model.peak_flops_per_s["fp32"] == 1e11  # its own peak, the defaults' fractions
    assert any("devicefit calibrate" in note for note in target.notes)
    assert target.model == local_default_model(CPU, None)


def test_calibrated_local_gpu_transfers_to_its_architecture(catalog, here):
    store, run_id = here
    calibrated = dataclasses.replace(
        catalog_default_model(catalog.get(H100_SXM)),
        device="cuda:0",
        name=GPU.name,
        source="devicefit calibrate, run 1",
        origin="calibrated",
        error_band=0.2,
    )
    store.add_calibration(run_id, calibrated)
    resolution = resolve("h200, a100 80gb pcie", catalog, local_devices=(GPU,), store=store)
    h200, a100 = resolution.targets
    assert h200.model.device == H200
    assert h200.model.origin == "transferred" and h200.model.source.startswith("transferred")
    assert h200.model.bandwidth_bytes_per_s == 4.8e12
    # Another architecture keeps the defaults.
    assert a100.model.origin == "defaults" and a100.model.source.startswith("uncalibrated")


def test_catalog_names_need_no_local_devices_unless_a_local_gpu_is_calibrated(catalog, here):
    store, run_id = here
    assert needs_local_devices("local", calibrated(store)) and needs_local_devices(
        "h100, cpu", calibrated(store)
    )
    assert needs_local_devices("cuda:1", None) and needs_local_devices("", None)
    assert not needs_local_devices("h100, a100 80gb pcie", calibrated(store))
    store.add_calibration(run_id, fit_device_model(calibration_results(), CPU, num_threads=2, source="t"))
    assert not needs_local_devices("h100", calibrated(store))  # a CPU lends nothing to a catalog GPU
    gpu = dataclasses.replace(catalog_default_model(catalog.get(H100_SXM)), device="cuda:0", name=GPU.name)
    store.add_calibration(run_id, gpu)
    assert needs_local_devices("h100", calibrated(store))

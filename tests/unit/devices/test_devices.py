"""Device selection by --device, and the explanation when CUDA is missing."""

import pytest

from devicefit.devices import CPUDevice, FakeDevice, explain_missing_cuda, select_devices
from devicefit.errors import UsageError
from devicefit.records import DeviceDescription


class StubGPU(FakeDevice):
    kind = "cuda"


def local(*gpus):
    return (
        CPUDevice(lambda: DeviceDescription(id="cpu", kind="cpu", name="cpu", vendor="x", memory_bytes=1)),
        *(StubGPU(device_id=f"cuda:{i}") for i in gpus),
    )


def ids(devices):
    return [d.id for d in devices]


def test_all_cuda_and_indexed_selection():
    found = local(0, 1)
    assert ids(select_devices("all", found)) == ["cpu", "cuda:0", "cuda:1"]
    assert ids(select_devices("cuda", found)) == ["cuda:0", "cuda:1"]
    assert ids(select_devices("cuda:1", found)) == ["cuda:1"]
    assert ids(select_devices("cpu, cuda:0,cpu", found)) == ["cpu", "cuda:0"]
    assert ids(select_devices("fake", found)) == ["fake"]


def test_unknown_device_lists_the_valid_ones():
    with pytest.raises(UsageError) as raised:
        select_devices("gpu", local())
    message = str(raised.value)
    assert "unknown device 'gpu'" in message
    for choice in ("cpu", "cuda", "cuda:N", "mps", "all"):
        assert choice in message
    assert raised.value.exit_code == 2


def test_cuda_on_a_cpu_only_machine_says_what_was_found():
    with pytest.raises(UsageError) as raised:
        select_devices("cuda", local())
    assert "found: cpu" in str(raised.value)
    assert "no CUDA device" in str(raised.value)


def test_missing_index_lists_the_present_gpus():
    with pytest.raises(UsageError, match="no device cuda:3; this machine has: cpu, cuda:0"):
        select_devices("cuda:3", local(0))


def test_missing_mps_is_explained():
    with pytest.raises(UsageError, match="no Apple GPU"):
        select_devices("mps", local())


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (dict(cuda_version=None, hip_version=None, torch_version="2.13.0+cpu"), "CPU-only build"),
        (
            dict(cuda_version="12.4", hip_version=None, torch_version="2.13.0", visible_devices=""),
            "CUDA_VISIBLE_DEVICES=''",
        ),
        (
            dict(cuda_version="12.4", hip_version=None, torch_version="2.13.0", visible_devices=None),
            "supports CUDA 12.4 but finds no usable GPU or driver",
        ),
        (dict(cuda_version=None, hip_version="6.2", torch_version="2.13.0"), "ROCm 6.2"),
    ],
)
def test_explanations_of_missing_cuda(facts, expected):
    assert expected in explain_missing_cuda(probe=False, **facts)


def test_this_machines_cpu_is_always_discovered():
    from devicefit.devices import discover_devices

    assert discover_devices()[0].id == "cpu"


def test_no_device_backend_imports_the_measuring_code():
    import ast
    from pathlib import Path

    import devicefit.devices

    imported = {}
    for path in Path(devicefit.devices.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        names = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        names += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        imported[path.name] = [name for name in names if name.startswith("devicefit.measure")]
    assert imported and not any(imported.values()), imported


def test_discovery_links_the_cpu_to_its_catalog_entry_once(monkeypatch):
    import devicefit.devices as devices
    from devicefit.catalog import load_catalog

    spec = next(d for d in load_catalog().devices if d.kind == "cpu" and d.bandwidth_bytes_per_s)
    probed, linked, link = [], [], devices.link_to_catalog

    def probe():
        probed.append(1)
        return DeviceDescription(id="cpu", kind="cpu", name=spec.name, vendor="x", memory_bytes=1)

    def counted_link(description):
        linked.append(description)
        return link(description)

    monkeypatch.setattr(devices.CPUDevice, "_probe_local", staticmethod(probe))
    monkeypatch.setattr(devices, "link_to_catalog", counted_link)
    cpu = devices.discover_devices()[0]
    assert cpu.properties() is cpu.properties()
    assert len(probed) == len(linked) == 1
    assert cpu.properties().catalog_id == spec.id
    assert cpu.properties().peak_bandwidth_bytes_per_s == spec.bandwidth_bytes_per_s
    # A device made outside discovery is not linked: it keeps what the hardware says.
    assert CPUDevice(probe).properties().peak_bandwidth_bytes_per_s is None

"""The packaged catalog: schema, provenance of every figure, name matching, user files, bad entries."""

import dataclasses

import pytest

from devicefit import catalog as catalog_module
from devicefit.catalog import build_catalog, load_catalog, with_catalog_figures
from devicefit.data import load_packaged_toml
from devicefit.errors import UsageError
from devicefit.records import DeviceDescription, DeviceSpec, Peak

META_FIELDS = {
    "id",
    "name",
    "vendor",
    "kind",
    "architecture",
    "aliases",
    "notes",
    "sources",
    "compute_capabilities",
}


@pytest.fixture(autouse=True)
def _fresh_catalog():
    catalog_module.clear_cache()
    yield
    catalog_module.clear_cache()


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def figure_paths(spec):
    for field in dataclasses.fields(spec):
        value = getattr(spec, field.name)
        if field.name in META_FIELDS or value in (None, (), {}, ""):
            continue
        if isinstance(value, dict):
            yield from (f"{field.name}.{key}" for key in value)
        elif dataclasses.is_dataclass(value):
            yield from (
                f"{field.name}.{f.name}"
                for f in dataclasses.fields(value)
                if getattr(value, f.name) is not None
            )
        else:
            yield field.name


def test_catalog_covers_the_required_devices(catalog):
    assert len(catalog.devices) >= 30
    names = " ".join(d.id for d in catalog.devices)
    for required in (
        "p4",
        "p100",
        "v100-pcie",
        "v100-sxm2",
        "t4",
        "a10",
        "a30",
        "a100-40gb-pcie",
        "a100-80gb-sxm4",
        "l4",
        "l40s",
        "h100-pcie",
        "h100-sxm5",
        "h200",
        "b200",
        "2080-ti",
        "3070",
        "3090",
        "4090",
        "5090",
        "mi100",
        "mi210",
        "mi250",
        "mi250x",
        "mi300x",
        "radeon-vii",
        "m2-max",
        "m3-max",
        "tpu-v4",
        "tpu-v5e",
        "epyc-7763",
        "8480",
    ):
        assert required in names, required
    assert {d.kind for d in catalog.devices} == {"gpu", "cpu", "tpu"}


def test_ids_are_unique_lowercase_kebab(catalog):
    ids = [d.id for d in catalog.devices]
    assert len(ids) == len(set(ids))
    assert all(i == i.lower() and " " not in i and "_" not in i for i in ids)


def test_every_figure_has_a_known_source(catalog):
    for spec in (*catalog.devices, *catalog.architectures):
        paths = list(figure_paths(spec))
        assert paths, spec.id
        for path in paths:
            keys = spec.sources.get(path)
            assert keys, f"{spec.id}: {path} has no source"
            assert all(key in catalog.sources for key in keys), f"{spec.id}: {path} cites an unknown source"


def test_every_source_is_used_and_derived_ones_show_arithmetic(catalog):
    used = {
        key
        for spec in (*catalog.devices, *catalog.architectures)
        for keys in spec.sources.values()
        for key in keys
    }
    assert used == set(catalog.sources)
    for key, source in catalog.sources.items():
        if source.trust == "derived":
            assert any(ch.isdigit() for ch in source.citation), key


def test_dense_peaks_are_ordered_and_positive(catalog):
    for spec in catalog.devices:
        peaks = spec.peak_flops_per_s
        assert all(value > 0 for value in peaks.values()), spec.id
        if "tf32" in peaks and "bf16" in peaks:
            assert peaks["tf32"] <= peaks["bf16"], spec.id
        if "bf16" in peaks and "fp8" in peaks:
            assert peaks["bf16"] <= peaks["fp8"], spec.id


def test_h100_sxm_figures_match_the_datasheet(catalog):
    # NVIDIA H100 SXM5: 80 GB HBM3 at 3.35 TB/s, 989.4 TFLOP/s dense bf16, 700 W.
    h100 = catalog.get("nvidia-h100-sxm5-80gb")
    assert h100.memory_bytes == 80 * 2**30
    assert h100.bandwidth_bytes_per_s == 3.35e12
    assert h100.peak_flops_per_s["bf16"] == pytest.approx(989.4e12)
    assert h100.tdp_w == 700


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("4090", "nvidia-geforce-rtx-4090"),
        ("a100 80gb pcie", "nvidia-a100-80gb-pcie"),
        ("H200", "nvidia-h200-sxm-141gb"),
        ("nvidia-h100-sxm5-80gb", "nvidia-h100-sxm5-80gb"),
        ("rtx 3090", "nvidia-geforce-rtx-3090"),
        ("mi300x", "amd-instinct-mi300x"),
    ],
)
def test_forgiving_names(catalog, query, expected):
    assert catalog.find(query).id == expected


def test_ambiguous_name_lists_the_candidates(catalog):
    with pytest.raises(UsageError) as raised:
        catalog.find("h100")
    assert "nvidia-h100-sxm5-80gb" in str(raised.value) and "nvidia-h100-pcie-80gb" in str(raised.value)


def test_unknown_name_suggests_close_ones(catalog):
    with pytest.raises(UsageError, match="Did you mean"):
        catalog.find("nvidia-h10-sxm")


def test_local_names_match_driver_strings_by_kind(catalog):
    assert catalog.match_local("NVIDIA H100 80GB HBM3", "gpu").id == "nvidia-h100-sxm5-80gb"
    assert catalog.match_local("nvidia h200", "gpu").id == "nvidia-h200-sxm-141gb"
    assert catalog.match_local("AMD EPYC 7763 64-Core Processor", "cpu").id == "amd-epyc-7763"
    assert (
        catalog.match_local("Apple M3 Max", "gpu") is None
        or catalog.match_local("Apple M3 Max", "gpu").kind == "gpu"
    )
    assert catalog.match_local("AMD EPYC", "cpu") is None


#: The GPUs of the two published sets under ../shared/published, with their catalog entries, kept
#: here so that a checkout without those files still checks them. NeuSight names them as the
#: driver reports them (device_configs/*.json "Device"; kernels/<op>/<name>.csv.gz with "_" for
#: " "); DeepLearningExamples' tables (dle-convnets.csv `gpu`) drop "Tesla" / "NVIDIA".
NEUSIGHT_GPUS = {
    "Tesla P4": "nvidia-tesla-p4",
    "Tesla P100-PCIE-16GB": "nvidia-tesla-p100-pcie-16gb",
    "Tesla V100-PCIE-32GB": "nvidia-tesla-v100-pcie-32gb",
    "Tesla T4": "nvidia-t4",
    "NVIDIA A100-PCIE-40GB": "nvidia-a100-40gb-pcie",
    "NVIDIA A100 80GB PCIe": "nvidia-a100-80gb-pcie",
    "AMD Instinct MI100": "amd-instinct-mi100",
    "AMD Instinct MI210": "amd-instinct-mi210",
}
DLE_GPUS = {
    "V100-SXM2-16GB": "nvidia-tesla-v100-sxm2-16gb",
    "V100-SXM2-32GB": "nvidia-tesla-v100-sxm2-32gb",
    "A100-SXM4-80GB": "nvidia-a100-80gb-sxm4",
    "T4": "nvidia-t4",
}
#: What the driver reports for the DeepLearningExamples GPUs.
DRIVER_NAMES = {
    **NEUSIGHT_GPUS,
    "Tesla V100-SXM2-16GB": "nvidia-tesla-v100-sxm2-16gb",
    "Tesla V100-SXM2-32GB": "nvidia-tesla-v100-sxm2-32gb",
    "NVIDIA A100-SXM4-80GB": "nvidia-a100-80gb-sxm4",
}


def published_gpu_names():
    """The GPU names in ../shared/published, or None where that folder is not beside the repo."""
    import csv
    import json
    from pathlib import Path

    published = Path(__file__).parents[4] / "shared" / "published"
    if not published.is_dir():
        return None
    neusight = published / "neusight-kernels"
    names = {json.loads(path.read_text())["Device"] for path in neusight.glob("device_configs/*.json")}
    names |= {
        path.name.removesuffix(".csv.gz").replace("_", " ") for path in neusight.glob("kernels/*/*.csv.gz")
    }
    with published.joinpath("dle-convnets.csv").open(newline="") as rows:
        names |= {row["gpu"] for row in csv.DictReader(rows)}
    return names


@pytest.mark.parametrize(("name", "expected"), sorted({**DRIVER_NAMES, **DLE_GPUS}.items()))
def test_published_gpus_resolve_to_one_entry_with_figures(catalog, name, expected):
    from devicefit.predict.devices import catalog_default_model

    spec = catalog.find(name)  # raises unless exactly one entry matches
    assert spec.id == expected
    if name in DRIVER_NAMES:
        # What a machine with this GPU reports links it to the same entry.
        assert catalog.match_local(name, "gpu") is spec
    catalog_default_model(spec)  # raises unless it has the figures a prediction needs


def test_every_gpu_of_the_shared_published_sets_is_checked():
    names = published_gpu_names()
    if names is None:
        pytest.skip("../shared/published is not beside the repository; the hard-coded names are checked")
    known = set(NEUSIGHT_GPUS) | set(DLE_GPUS)
    assert len(names) >= 10 and names <= known, sorted(names - known)


def test_architectures_by_compute_capability(catalog):
    hopper = catalog.architecture("9.0")
    assert hopper.fp32_flops_per_clock_per_multiprocessor == 256
    assert hopper.matrix_flops_per_clock_per_multiprocessor["bf16"] == 4096
    assert catalog.architecture("1.0") is None


def test_local_gpu_takes_datasheet_peaks(catalog):
    derived = DeviceDescription(
        id="cuda:0",
        kind="cuda",
        name="NVIDIA H100 80GB HBM3",
        vendor="nvidia",
        memory_bytes=1,
        peaks=(
            Peak(dtype="bf16", flops_per_s=1.07e15, derivation="x"),
            Peak(dtype="fp4", flops_per_s=1.0, derivation="y"),
        ),
        peak_bandwidth_bytes_per_s=3.352e12,
    )
    linked = with_catalog_figures(derived, catalog)
    assert linked.catalog_id == "nvidia-h100-sxm5-80gb"
    assert linked.peak_flops_per_s("bf16") == pytest.approx(989.4e12)
    assert linked.peak_flops_per_s("fp4") == 1.0  # kept where the catalog has nothing
    assert linked.peak_bandwidth_bytes_per_s == 3.352e12  # the card's own figure is kept
    unknown = dataclasses.replace(derived, name="Mystery GPU")
    assert with_catalog_figures(unknown, catalog) is unknown


def test_a_local_mi250x_gcd_links_to_per_gcd_figures(catalog):
    # ROCm shows each of the package's 2 GCDs as a device named "AMD Instinct MI250X".
    gcd = DeviceDescription(
        id="cuda:0", kind="cuda", name="AMD Instinct MI250X", vendor="amd", memory_bytes=1
    )
    linked = with_catalog_figures(gcd, catalog)
    spec = catalog.get("amd-instinct-mi250x")
    assert linked.catalog_id == spec.id and spec.num_devices_per_package == 2
    # One GCD: 110 CU x 1024 FLOP/clk x 1.7 GHz = 191.5 TFLOP/s bf16, half the package's 383.
    assert linked.peak_flops_per_s("bf16") == pytest.approx(110 * 1024 * 1.7e9, rel=1e-3)
    assert spec.memory_bytes == 64 * 2**30 and spec.bandwidth_bytes_per_s == 1.6384e12
    assert spec.peak_flops_per_s["fp32"] == pytest.approx(spec.num_multiprocessors * 128 * 1.7e9, rel=1e-3)


def test_readme_device_counts_match_the_catalog(catalog):
    from pathlib import Path

    from devicefit.predict.devices import catalog_default_model

    def predictable(spec):
        try:
            catalog_default_model(spec)
        except UsageError:
            return False
        return True

    total = len(catalog.devices)
    usable = sum(predictable(spec) for spec in catalog.devices)
    root = Path(__file__).parents[3]
    readme = root.joinpath("README.md").read_text()
    docs = " ".join(" ".join(path.read_text().split()) for path in sorted(root.joinpath("docs").glob("*.md")))
    assert f"on {usable} of the {total} catalogued" in readme
    assert f"the {usable} catalog devices it can predict (of {total})" in docs
    assert f"{total} devices with a source for every figure" in docs
    assert f"- {total} devices:" in root.joinpath("src/devicefit/catalog/README.md").read_text()


def test_user_file_overrides_and_adds(tmp_path, monkeypatch):
    user = tmp_path / "mine.toml"
    user.write_text("""
[sources.my-quote]
citation = "Our vendor's quote, 2026-11"
trust = "vendor"

[[devices]]
id = "nvidia-geforce-rtx-4090"
price = { list_usd = 1799.0, list_date = "2026-11" }
sources = { "price.list_usd" = ["my-quote"], "price.list_date" = ["my-quote"] }

[[devices]]
id = "lab-box-gpu"
name = "Lab Box GPU"
vendor = "nvidia"
kind = "gpu"
architecture = "ada"
memory_bytes = 25769803776
bandwidth_bytes_per_s = 1.0e12
peak_flops_per_s = { fp32 = 80e12 }

[devices.sources]
memory_bytes = ["my-quote"]
bandwidth_bytes_per_s = ["my-quote"]
"peak_flops_per_s.fp32" = ["my-quote"]
""")
    monkeypatch.setenv("DEVICEFIT_CATALOG", str(user))
    merged = load_catalog()
    rtx = merged.get("nvidia-geforce-rtx-4090")
    assert rtx.price.list_usd == 1799.0
    assert rtx.bandwidth_bytes_per_s == 1008e9  # untouched packaged figure
    assert rtx.sources["bandwidth_bytes_per_s"]  # packaged sources kept
    assert merged.find("lab box").id == "lab-box-gpu"


def packaged():
    return ("devicefit/catalog/devices.toml", load_packaged_toml("devicefit.catalog", "devices.toml"))


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {
                "id": "x",
                "name": "X",
                "vendor": "nvidia",
                "kind": "gpu",
                "architecture": "a",
                "sources": {},
                "memory_bytes": "lots",
            },
            "device 'x': field 'memory_bytes'",
        ),
        (
            {
                "id": "x",
                "name": "X",
                "vendor": "nvidia",
                "kind": "gpu",
                "architecture": "a",
                "sources": {},
                "bandwith_bytes_per_s": 1e12,
            },
            "device 'x': unknown field 'bandwith_bytes_per_s'",
        ),
        (
            {
                "id": "x",
                "name": "X",
                "vendor": "nvidia",
                "kind": "quantum",
                "architecture": "a",
                "sources": {},
            },
            "device 'x': field 'kind'",
        ),
        ({"name": "no id"}, "entry 1 has no 'id'"),
    ],
)
def test_malformed_entries_name_file_entry_and_field(entry, message):
    with pytest.raises(UsageError) as raised:
        build_catalog([packaged(), ("/home/me/bad.toml", {"devices": [entry]})])
    assert message in str(raised.value)
    assert "bad.toml" in str(raised.value)


def test_unreadable_and_invalid_user_files(tmp_path, monkeypatch):
    monkeypatch.setenv("DEVICEFIT_CATALOG", str(tmp_path / "missing.toml"))
    with pytest.raises(UsageError, match="cannot read catalog"):
        load_catalog()
    catalog_module.clear_cache()
    broken = tmp_path / "broken.toml"
    broken.write_text("[[devices]\nid = ")
    monkeypatch.setenv("DEVICEFIT_CATALOG", str(broken))
    with pytest.raises(UsageError, match="not valid TOML"):
        load_catalog()


def test_spec_records_are_frozen(catalog):
    with pytest.raises(dataclasses.FrozenInstanceError):
        catalog.devices[0].name = "x"
    assert isinstance(catalog.devices[0], DeviceSpec)


def test_typical_hosts_are_catalog_cpus_with_a_clock_and_a_per_clock_speed(catalog):
    from devicefit.predict.host import catalog_host

    hosts = {d.id: d.typical_host for d in catalog.devices if d.typical_host}
    # The DGX systems of the published results: DGX-1V, DGX A100, DGX H100 and H200.
    assert hosts["nvidia-tesla-v100-sxm2-16gb"] == "intel-xeon-e5-2698-v4"
    assert hosts["nvidia-a100-80gb-sxm4"] == "amd-epyc-7742"
    assert hosts["nvidia-h100-sxm5-80gb"] == hosts["nvidia-h200-sxm-141gb"] == "intel-xeon-platinum-8480c"
    for device_id, host in hosts.items():
        assert catalog.get(device_id).sources["typical_host"], device_id
        assert catalog_host(catalog.get(host)).speed_hz > 0

"""CPU properties and peak derivation, from a recorded cpuinfo dict and hand-made ones."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from devicefit.catalog.cores import core_table, select_core
from devicefit.devices import cpu
from devicefit.devices.cpu import derive_cpu_peaks, normalize_feature, probe_cpu, read_cache_sizes

DATA = Path(__file__).parents[2] / "data"


def recorded_cpuinfo():
    return json.loads((DATA / "cpuinfo_amd_epyc_zen3_vm.json").read_text())


def core_for(vendor="", family=None, model=None, brand="", features=()):
    return select_core(
        vendor=vendor, family=family, model=model, brand=brand, features=features, table=core_table()
    )


@pytest.mark.parametrize(
    ("vendor", "family", "model", "brand", "features", "name", "units", "width"),
    [
        ("AuthenticAMD", 25, 1, "AMD EPYC 7763", ("avx2", "fma"), "AMD Zen 3", 2, 256),
        ("AuthenticAMD", 25, 17, "AMD EPYC 9654", ("avx512f",), "AMD Zen 4", 2, 256),
        ("AuthenticAMD", 23, 1, "AMD EPYC 7601", ("avx2",), "AMD Zen / Zen+", 2, 128),
        ("AuthenticAMD", 23, 49, "AMD EPYC 7742", ("avx2",), "AMD Zen 2", 2, 256),
        (
            "GenuineIntel",
            6,
            143,
            "Intel Xeon Platinum 8480+",
            ("avx512f", "amx_bf16"),
            "Intel core with AVX-512",
            2,
            512,
        ),
        (
            "GenuineIntel",
            6,
            183,
            "13th Gen Intel Core i9-13900K",
            ("avx2", "fma"),
            "Intel core with AVX2",
            2,
            256,
        ),
        ("", None, None, "Apple M2 Max", ("asimd",), "Apple M-series", 4, 128),
    ],
)
def test_core_table_matches_known_microarchitectures(
    vendor, family, model, brand, features, name, units, width
):
    core = core_for(vendor, family, model, brand, features)
    assert core.name.startswith(name)
    assert (core.fma_units, core.fma_width_bits) == (units, width)
    assert not core.source.startswith("assumed")


def test_unknown_core_is_assumed_from_the_isa_and_says_so():
    core = core_for("HygonGenuine", 24, 0, "Hygon C86", ("avx2", "fma"))
    assert (core.fma_units, core.fma_width_bits) == (2, 256)
    assert core.source.startswith("assumed")
    assert core_for(brand="Neoverse", features=("asimd",)).fma_width_bits == 128


def test_cpuinfo_flag_spellings_are_normalized():
    assert normalize_feature("AVX512VNNI") == "avx512_vnni"
    assert normalize_feature("amxbf16") == "amx_bf16"
    assert normalize_feature("avx2") == "avx2"


def test_probe_of_recorded_zen3_vm(monkeypatch):
    monkeypatch.setattr(cpu, "read_cache_sizes", lambda: read_cache_sizes(DATA / "sysfs_cpu"))
    props = probe_cpu(2, recorded_cpuinfo())
    assert props.vendor == "amd"
    assert props.isa_features[:5] == ("sse4_2", "avx", "avx2", "fma", "f16c")
    assert "avx512f" not in props.isa_features
    assert (props.simd_fp32_lanes, props.fma_units_per_core) == (8, 2)
    # Family 25, model 1 (Milan): the core whose speed per clock the host model uses.
    assert props.microarchitecture == "zen3"
    assert props.base_clock_hz == 2445406000
    assert (props.l1d_cache_bytes_per_core, props.l2_cache_bytes_per_core, props.l3_cache_bytes) == (
        32 * 1024,
        512 * 1024,
        32 * 1024**2,
    )


def test_cache_sizes_count_each_shared_l3_once(tmp_path):
    for cpu_index, l3_group in ((0, "0-1"), (1, "0-1"), (2, "2-3"), (3, "2-3")):
        for index, (level, kind, size) in enumerate(
            (("1", "Data", "48K"), ("2", "Unified", "2048K"), ("3", "Unified", "32M"))
        ):
            folder = tmp_path / f"cpu{cpu_index}" / "cache" / f"index{index}"
            folder.mkdir(parents=True)
            for name, value in (
                ("level", level),
                ("type", kind),
                ("size", size),
                ("shared_cpu_list", l3_group if level == "3" else str(cpu_index)),
            ):
                (folder / name).write_text(value + "\n")
    assert read_cache_sizes(tmp_path) == {"l1d": 48 * 1024, "l2": 2 * 1024**2, "l3": 64 * 1024**2}


def make_props(**overrides):
    fields = dict(
        model="test",
        vendor="amd",
        architecture="x86_64",
        num_physical_cores=2,
        num_logical_cpus=2,
        num_threads=2,
        isa_features=("avx2", "fma"),
        torch_cpu_capability="AVX2",
        base_clock_hz=2.45e9,
        max_clock_hz=None,
        clock_source="nominal",
        simd_fp32_lanes=8,
        fma_units_per_core=2,
        fma_units_source="test",
        l1d_cache_bytes_per_core=None,
        l2_cache_bytes_per_core=None,
        l3_cache_bytes=None,
        memory_bytes=2**30,
    )
    fields.update(overrides)
    return cpu.CPUProperties(**fields)


def test_fp32_peak_is_cores_lanes_fma_units_two_and_clock():
    # 2 cores x 8 lanes x 2 FMA units x 2 FLOP x 2.45 GHz = 156.8 GFLOP/s.
    peaks = {p.dtype: p for p in derive_cpu_peaks(make_props())}
    assert peaks["fp32"].flops_per_s == pytest.approx(156.8e9)
    assert peaks["fp64"].flops_per_s == pytest.approx(78.4e9)
    assert "2 cores x 8 fp32 lanes x 2 FMA units" in peaks["fp32"].derivation
    # No native bf16/fp16/int8 instructions on AVX2: no peak is claimed for them.
    assert set(peaks) == {"fp32", "fp64"}


def test_max_clock_is_preferred_over_the_nominal_one():
    peaks = {p.dtype: p.flops_per_s for p in derive_cpu_peaks(make_props(max_clock_hz=3.5e9))}
    assert peaks["fp32"] == pytest.approx(2 * 8 * 2 * 2 * 3.5e9)


def test_amx_peaks_follow_intels_per_cycle_rates():
    # 56 cores x 1024 BF16 FLOP/cycle x 2.0 GHz = 114.7 TFLOP/s; INT8 twice that.
    props = make_props(
        num_physical_cores=56,
        base_clock_hz=2.0e9,
        simd_fp32_lanes=16,
        isa_features=("avx512f", "avx512_bf16", "amx_bf16", "amx_int8"),
    )
    peaks = {p.dtype: p.flops_per_s for p in derive_cpu_peaks(props)}
    assert peaks["bf16"] == pytest.approx(56 * 1024 * 2.0e9)
    assert peaks["int8"] == pytest.approx(56 * 2048 * 2.0e9)


def test_vnni_and_native_half_precision_peaks():
    props = make_props(
        isa_features=("avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16"), simd_fp32_lanes=16
    )
    peaks = {p.dtype: p.flops_per_s for p in derive_cpu_peaks(props)}
    assert peaks["bf16"] == pytest.approx(2 * peaks["fp32"])
    assert peaks["fp16"] == pytest.approx(2 * peaks["fp32"])
    assert peaks["int8"] == pytest.approx(4 * peaks["fp32"])


def test_unknown_clock_gives_no_peak():
    assert derive_cpu_peaks(make_props(base_clock_hz=None)) == ()


def test_cpu_device_describes_once_and_never_synchronizes():
    calls = []

    def probe():
        calls.append(1)
        return cpu.cpu_description(make_props())

    device = cpu.CPUDevice(probe)
    assert device.properties() is device.properties()
    assert len(calls) == 1
    assert device.properties().peak_flops_per_s("fp32") == pytest.approx(156.8e9)
    assert device.properties().peak_bandwidth_bytes_per_s is None
    device.synchronize()  # a no-op: nothing to wait for on the host


def test_clocks_prefer_cpufreq_maximum():
    max_hz, base_hz, source = cpu._clocks({"hz_advertised": [2.0e9, 0]}, SimpleNamespace(max=3700.0))
    assert (max_hz, base_hz) == (3.7e9, 2.0e9)
    assert "cpufreq" in source
    assert cpu._clocks({}, None) == (None, None, cpu._clocks({}, None)[2])

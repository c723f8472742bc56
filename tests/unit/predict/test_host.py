"""The host that launches a GPU's work: its speed, the default host of each GPU, and ``--host``."""

import dataclasses

import pytest

from devicefit.catalog.cores import microarchitecture, per_clock_for_architecture
from devicefit.errors import UsageError
from devicefit.predict.devices import catalog_default_model, default_parameters
from devicefit.predict.host import find_host, local_host, on_host, reference_host
from devicefit.predict.roofline import predict_step
from devicefit.predict.targets import resolve_targets
from devicefit.records import DeviceDescription, Peak
from tests.unit.predict.helpers import CPU, CPU_PROPERTIES, H100_SXM, add, make_cost, make_gpu, mm

V100_SXM2 = "nvidia-tesla-v100-sxm2-16gb"


def resolve(query, catalog, **kwargs):
    kwargs.setdefault("local_devices", ())
    return resolve_targets(query, catalog=catalog, calibrations=None, **kwargs)


def test_a_host_s_speed_is_its_boost_clock_times_its_core_s_speed_per_clock(catalog):
    # DGX-1: Broadwell at 3.6 GHz x 0.95 per clock; DGX H100: Sapphire Rapids at 3.8 GHz x 1.40.
    dgx1 = find_host(catalog, "e5-2698")
    assert (dgx1.device, dgx1.clock_hz, dgx1.relative_per_clock) == ("intel-xeon-e5-2698-v4", 3.6e9, 0.95)
    assert dgx1.speed_hz == pytest.approx(3.42e9)
    reference = reference_host(catalog)
    assert reference.device == "intel-xeon-platinum-8480c"
    assert reference.speed_hz == pytest.approx(5.32e9)


def test_a_slower_host_slows_a_host_bound_step_and_leaves_a_kernel_bound_one(catalog):
    fast, slow = find_host(catalog, "8480c"), find_host(catalog, "e5-2698")
    gpu = make_gpu(asynchronous=True)
    on_fast = on_host(gpu, fast, measured_on=fast)
    on_slow = on_host(gpu, slow, measured_on=fast)
    ratio = fast.speed_hz / slow.speed_hz  # 5.32 / 3.42 = 1.556
    assert on_slow.op_overhead_s == pytest.approx(gpu.op_overhead_s * ratio)
    assert on_slow.conv_overhead_s == pytest.approx(gpu.conv_overhead_s * ratio)
    # Batch 1: tiny elementwise calls whose kernels (1e3 bytes at 50 GB/s: 20 ns) finish before the
    # next launch: the step is the host's, and takes the speed ratio longer on the slower host.
    tiny = (add(nbytes=1e3),) * 20
    small = make_cost(ops=tiny, infer_ops=tiny, num_module_calls=0)
    slow_s = predict_step(small, on_slow, mode="infer", memory_kind="cuda").step_time_s
    fast_s = predict_step(small, on_fast, mode="infer", memory_kind="cuda").step_time_s
    assert slow_s == pytest.approx(fast_s * ratio)
    assert slow_s > fast_s
    # A large batch: each 2 GFLOP product takes 4 ms at half of 1 TFLOP/s, far beyond any launch.
    large = make_cost(infer_ops=(mm(),) * 5, num_module_calls=0)
    assert predict_step(large, on_slow, mode="infer", memory_kind="cuda").step_time_s == pytest.approx(
        predict_step(large, on_fast, mode="infer", memory_kind="cuda").step_time_s, rel=1e-12
    )


@pytest.mark.parametrize(
    ("query", "host"),
    [
        (V100_SXM2, "Intel Xeon E5-2698 v4"),  # DGX-1V
        ("nvidia-a100-80gb-sxm4", "AMD EPYC 7742"),  # DGX A100
        (H100_SXM, "Intel Xeon Platinum 8480C"),  # DGX H100
        ("nvidia-h200-sxm-141gb", "Intel Xeon Platinum 8480C"),  # DGX H200
        ("nvidia-a100-40gb-pcie", "AMD EPYC 7742"),  # its generation's DGX
        ("nvidia-tesla-v100-pcie-32gb", "Intel Xeon E5-2698 v4"),
        ("nvidia-geforce-rtx-4090", "Intel Core i9-13900K"),  # a desktop
        ("nvidia-t4", "Intel Xeon Platinum 8480C"),  # no DGX of its generation: the reference
    ],
)
def test_each_gpu_generation_assumes_its_usual_host(catalog, query, host):
    (target,) = resolve(query, catalog).targets
    assert target.model.host.startswith(host + " (")


def test_host_costs_of_the_defaults_scale_from_the_reference_host(catalog):
    defaults = catalog_default_model(catalog.get(V100_SXM2))
    (v100,) = resolve(V100_SXM2, catalog).targets
    (h100,) = resolve(H100_SXM, catalog).targets
    # The reference host's GPU keeps the defaults; the DGX-1's is 5.32 / 3.42 times slower per call.
    assert h100.model.op_overhead_s == pytest.approx(defaults.op_overhead_s)
    assert v100.model.op_overhead_s == pytest.approx(defaults.op_overhead_s * 5.32 / 3.42)
    (on_h100_host,) = resolve(V100_SXM2, catalog, host="8480c").targets
    assert on_h100_host.model.op_overhead_s == pytest.approx(defaults.op_overhead_s)
    assert on_h100_host.model.host.startswith("Intel Xeon Platinum 8480C (--host)")


def test_cpus_and_tpus_have_no_host(catalog):
    for query in ("epyc 9654", "tpu v4"):
        (target,) = resolve(query, catalog, host="e5-2698").targets
        assert target.model.host == ""


def test_an_unknown_host_is_one_line_naming_the_catalog_cpus(catalog):
    with pytest.raises(UsageError, match="no catalog CPU matches host 'pentium'") as raised:
        resolve(H100_SXM, catalog, host="pentium")
    assert "intel-xeon-e5-2698-v4" in raised.value.fix and "amd-epyc-7742" in raised.value.fix
    with pytest.raises(UsageError, match="no catalog CPU matches host 'nvidia-t4'"):
        resolve(H100_SXM, catalog, host="nvidia-t4")
    with pytest.raises(UsageError, match="matches 2 catalog CPUs"):
        resolve(H100_SXM, catalog, host="8480")
    # A CPU without a clock cannot be a host.
    with pytest.raises(UsageError, match="apple-m3-max-cpu has no boost clock to scale host costs by"):
        resolve(H100_SXM, catalog, host="apple-m3-max-cpu")


GPU = DeviceDescription(
    id="cuda:0",
    kind="cuda",
    name="Hand GPU",
    vendor="nvidia",
    memory_bytes=2**34,
    peaks=(Peak(dtype="fp32", flops_per_s=2e13, derivation="round number"),),
    peak_bandwidth_bytes_per_s=1e12,
)


def test_a_local_gpu_uses_this_machine_s_cpu(catalog):
    # The hand CPU is a Zen 3 at 3.5 GHz: 3.5 x 1.34 = 4.69 Skylake-GHz.
    cpu = dataclasses.replace(CPU, cpu=dataclasses.replace(CPU_PROPERTIES, microarchitecture="zen3"))
    here = local_host(cpu, catalog)
    assert here is not None and here.speed_hz == pytest.approx(3.5e9 * 1.34)
    gpu = next(
        t
        for t in resolve("local", catalog, local_devices=(cpu, GPU)).targets
        if t.local and t.model.kind == "gpu"
    )
    reference = reference_host(catalog)
    reference_op = default_parameters("cuda", None)["op_overhead_s"]
    default_op = gpu.model.op_overhead_s * here.speed_hz / reference.speed_hz
    assert default_op == pytest.approx(reference_op)
    assert gpu.model.host.startswith("this machine's Hand EPYC")
    # Without a known core speed, the defaults stay at the reference host's, and say so.
    unknown = next(
        t for t in resolve("local", catalog, local_devices=(CPU, GPU)).targets if t.model.kind == "gpu"
    )
    assert unknown.model.op_overhead_s == pytest.approx(reference_op)
    assert "speed is unknown" in unknown.model.host


def test_cpuid_names_the_microarchitecture_and_its_speed_per_clock():
    assert microarchitecture(vendor="AuthenticAMD", family=25, model=1) == "zen3"
    assert microarchitecture(vendor="AuthenticAMD", family=23, model=49) == "zen2"
    assert microarchitecture(vendor="GenuineIntel", family=6, model=79) == "broadwell"
    assert microarchitecture(vendor="GenuineIntel", family=6, model=143) == "sapphire-rapids"
    assert microarchitecture(vendor="GenuineIntel", family=6, model=1) is None
    # Chained vendor IPC claims: Zen 2 = 0.95 x 1.03 x 1.15; Raptor Lake shares Golden Cove's 1.40.
    assert per_clock_for_architecture("zen2").relative_per_clock == pytest.approx(
        0.95 * 1.03 * 1.15, abs=0.01
    )
    assert per_clock_for_architecture("raptor-lake").relative_per_clock == 1.40
    assert per_clock_for_architecture("apple-m3") is None

"""Micro-benchmark cases: work counts with their derivation, real CPU builds, and the plans per device."""

import pytest
import torch

from devicefit.devices.fake import FakeDevice
from devicefit.measure import micro
from devicefit.measure.bench_plan import plan_micro
from devicefit.measure.calibration_plan import plan_calibration
from devicefit.measure.case import tf32_enabled, torch_threads
from devicefit.records import CPUProperties, DeviceDescription, Peak

CPU_PROPS = CPUProperties(
    model="AMD EPYC",
    vendor="amd",
    architecture="x86_64",
    num_physical_cores=4,
    num_logical_cpus=8,
    num_threads=4,
    isa_features=("avx2", "fma"),
    torch_cpu_capability="AVX2",
    base_clock_hz=2.45e9,
    max_clock_hz=None,
    clock_source="nominal",
    simd_fp32_lanes=8,
    fma_units_per_core=2,
    fma_units_source="test",
    l1d_cache_bytes_per_core=32 * 2**10,
    l2_cache_bytes_per_core=512 * 2**10,
    l3_cache_bytes=32 * 2**20,
    memory_bytes=16 * 2**30,
)
CPU = DeviceDescription(
    id="cpu",
    kind="cpu",
    name="AMD EPYC",
    vendor="amd",
    memory_bytes=16 * 2**30,
    peaks=(Peak(dtype="fp32", flops_per_s=313.6e9, derivation="4 x 8 x 2 x 2 x 2.45 GHz"),),
    cpu=CPU_PROPS,
)


def test_matmul_counts_two_flops_per_multiply_add():
    case = micro.matmul(device="cpu", device_kind="cpu", dtype="fp32", n=1024, peak=None)
    assert case.flops_per_iteration == 2 * 1024**3  # 2.147 GFLOP
    assert case.memory_bytes == 3 * 1024 * 1024 * 4


def test_stream_bytes_follow_mccalpins_convention():
    # Copy and scale move 2 arrays (read one, write one); add and triad 3. 1M fp32 elements = 4 MiB each.
    bytes_moved = {
        k: micro.stream(device="cpu", kernel=k, n=2**20, peak=None).bytes_per_iteration
        for k in micro.STREAM_ARRAYS
    }
    assert bytes_moved == {"copy": 8 * 2**20, "scale": 8 * 2**20, "add": 12 * 2**20, "triad": 12 * 2**20}


def test_conv2d_flops_match_the_resnet_layer():
    # 2 x N x K x C x H x W x R x S = 2 x 8 x 64 x 64 x 56 x 56 x 3 x 3 = 1.850 GFLOP.
    case = micro.conv2d(device="cpu", device_kind="cpu", dtype="fp32", batch_size=8, peak=None)
    assert case.flops_per_iteration == 2 * 8 * 64 * 64 * 56 * 56 * 3 * 3 == 1_849_688_064


@pytest.mark.parametrize(
    "case",
    [
        micro.matmul(device="cpu", device_kind="cpu", dtype="fp32", n=64, peak=None),
        micro.matmul(device="cpu", device_kind="cpu", dtype="bf16", n=32, peak=None),
        micro.matmul(device="cpu", device_kind="cpu", dtype="int8", n=32, peak=None),
        *(micro.stream(device="cpu", kernel=k, n=1000, peak=None) for k in micro.STREAM_ARRAYS),
        micro.launch(device="cpu"),
        micro.elementwise(device="cpu", n=1000, bandwidth_peak=None),
        micro.conv2d(device="cpu", device_kind="cpu", dtype="fp32", batch_size=1, peak=None),
        *(micro.first_touch(device="cpu", fresh=fresh, n=1000) for fresh in (True, False)),
    ],
    ids=lambda case: case.id,
)
def test_every_case_builds_and_runs_on_the_cpu(case):
    with case.context():
        fn = case.build()
        fn()
        fn()


def test_inputs_are_random_not_zeros():
    case = micro.stream(device="cpu", kernel="copy", n=4096, peak=None)
    fn = case.build()
    out = fn()
    assert out.abs().sum() > 0
    assert out.unique().numel() > 4000


def test_tf32_switch_is_restored():
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    with tf32_enabled(True):
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before


def test_thread_pinning_is_restored():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_cpu_plan_sweeps_caches_into_dram_and_scales_threads():
    cases = plan_micro(CPU, quick=False)
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids))
    benchmarks = {c.benchmark for c in cases}
    assert {
        "matmul",
        "copy",
        "scale",
        "add",
        "triad",
        "launch",
        "elementwise",
        "conv2d",
        "matmul_threads",
        "triad_threads",
    } <= benchmarks
    assert not benchmarks & {"h2d", "d2h"}
    triad_sizes = [c.size * 4 for c in cases if c.benchmark == "triad"]
    assert triad_sizes == sorted(triad_sizes)
    assert triad_sizes[0] <= CPU_PROPS.l1d_cache_bytes_per_core
    assert triad_sizes[-1] >= 4 * CPU_PROPS.l3_cache_bytes
    assert [c.num_threads for c in cases if c.benchmark == "matmul_threads"] == [1, 2, 4]
    fp32 = next(c for c in cases if c.benchmark == "matmul" and c.dtype == "fp32")
    assert fp32.peak == 313.6e9
    one_thread = next(c for c in cases if c.benchmark == "matmul_threads")
    assert one_thread.peak == pytest.approx(313.6e9 / 4)


def test_quick_plan_is_a_subset_with_dram_points():
    quick = plan_micro(CPU, quick=True)
    assert len(quick) < len(plan_micro(CPU, quick=False)) / 2
    dram = max(c.size for c in quick if c.benchmark == "triad")
    assert dram * 4 >= 4 * CPU_PROPS.l3_cache_bytes
    assert {c.benchmark for c in quick} >= {"matmul", "triad", "copy", "launch", "elementwise", "conv2d"}


def test_gpu_plan_measures_transfers_tf32_and_bf16_at_8192():
    cases = plan_micro(FakeDevice().properties(), quick=False)
    transfers = {(c.benchmark, c.pinned) for c in cases if c.benchmark in ("h2d", "d2h")}
    assert transfers == {("h2d", False), ("h2d", True), ("d2h", False), ("d2h", True)}
    assert any(c.id == "matmul.bf16.8192" for c in cases)
    assert any(c.dtype == "tf32" and "tf32" in c.flags for c in cases)
    assert not any(c.benchmark.endswith("_threads") for c in cases)


def test_cpu_calibration_measures_vocabulary_wide_products_unrotated():
    products = {
        c.shape: c for c in plan_calibration(CPU, num_threads=1, quick=True) if c.benchmark == "matmul"
    }
    # A language model's head and its two gradients: 32k wide in N, M or K (not a power of two, as
    # vocabularies are not), at 512 and 768 wide.
    wide = [(128, k, 32000) for k in (512, 768)] + [(32000, 128, k) for k in (512, 768)]
    for shape in wide + [(128, 32000, k) for k in (512, 768)]:
        case = products[shape]
        # Each moves more than twice the 32 MiB cache on its own: cold as it is, measured once.
        assert case.memory_bytes >= 2 * CPU_PROPS.l3_cache_bytes
        assert "cold" not in case.flags
        assert sum(1 for c in products.values() if c.shape == shape) == 1


def test_calibration_measures_both_gelus_from_cache_to_dram_sizes():
    cases = [
        c for c in plan_calibration(CPU, num_threads=1, quick=True) if c.benchmark.startswith("activation")
    ]
    sizes = {n: 8 * n for n in (2**12, 2**16, 2**20, 2**24)}  # read and written, fp32
    for benchmark in ("activation", "activation_tanh"):
        assert {c.bytes_per_iteration for c in cases if c.benchmark == benchmark} == set(sizes.values())
    tanh = next(c for c in cases if c.benchmark == "activation_tanh" and c.size == 2**12)
    with tanh.context():
        fn = tanh.build()
        fn()


def test_calibration_measures_max_pooling_by_window_and_its_backward():
    cases = {
        c.benchmark: c
        for c in plan_calibration(CPU, num_threads=1, quick=True)
        if c.benchmark.startswith("max_pool") and c.size == 64 * 56 * 56
    }
    assert set(cases) == {"max_pool", "max_pool_2x2", "max_pool_backward"}
    # 64 x 56 x 56 inputs pool to 28 x 28, bytes as the analysis counts them: the forward reads
    # the input and writes the output and its int64 indices; the backward reads the output's
    # gradient, the indices and the input, and writes the input's gradient.
    inputs, outputs = 64 * 56 * 56, 64 * 28 * 28
    assert cases["max_pool"].bytes_per_iteration == cases["max_pool_2x2"].bytes_per_iteration
    assert cases["max_pool"].bytes_per_iteration == 4 * inputs + 12 * outputs
    assert cases["max_pool_backward"].bytes_per_iteration == 8 * inputs + 12 * outputs
    for case in cases.values():
        with case.context():
            case.build()()


def test_calibration_measures_lstm_layers_and_first_layers_weight_only_backward():
    cases = plan_calibration(CPU, num_threads=1, quick=True)
    lstms = {(c.benchmark, c.shape) for c in cases if c.benchmark.startswith("lstm")}
    # 32 steps of (batch, hidden) inputs, 4 x hidden gates, forward and backward.
    assert lstms == {
        (benchmark, (32, b, h, 4 * h))
        for benchmark in ("lstm", "lstm_backward")
        for b in (1, 8, 32)
        for h in (256, 512, 768, 1024)
    }
    small = next(c for c in cases if c.benchmark == "lstm_backward" and c.shape == (32, 1, 256, 1024))
    # Twice the forward's FLOPs: 32 steps x (2 x 1024 x (256 + 256) + 9 x 256), doubled.
    assert small.flops_per_iteration == 2 * 32 * (2 * 1024 * 512 + 9 * 256)
    weight_only = [c for c in cases if c.benchmark == "conv2d_backward_weight"]
    # Only layers on RGB input: their backward is one forward's FLOPs.
    assert weight_only and all(c.shape[1] == 3 for c in weight_only)
    for case in weight_only:
        full = next(c for c in cases if c.benchmark == "conv2d_backward" and c.shape == case.shape)
        assert case.flops_per_iteration == full.flops_per_iteration / 2
    for case in (small, min(weight_only, key=lambda c: c.flops_per_iteration or 0)):
        with case.context():
            case.build()()


def test_cpu_convolution_layers_also_run_at_batch_32_while_their_tensors_stay_small():
    cases = plan_calibration(CPU, num_threads=1, quick=True)
    layers = [c for c in cases if c.benchmark.startswith("conv2d") and c.size == 32]
    assert layers
    for case in layers:
        batch, c_in, side, _, c_out, _, _ = case.shape
        # Dense layers whose largest tensor is at most 16 MiB: no page faults in the measurement.
        assert "depthwise" not in case.benchmark
        assert 4 * batch * max(c_in, c_out) * side**2 <= 16 * 2**20
    shapes = {c.shape[1:] for c in layers}
    assert (3, 32, 32, 8, 5, 5) in shapes  # a CIFAR network's first layer
    assert (64, 56, 56, 64, 3, 3) not in shapes  # ResNet's 56x56 layer: 25.7 MB at batch 32
    assert any(c.size == 32 for c in layers if c.benchmark == "conv2d_backward_weight")


def test_calibration_measures_mobilenets_pointwise_layers_and_lenets_second():
    from devicefit.analyze.cost import analyze_model
    from devicefit.analyze.shapes import conv_gemm_shape

    cases = plan_calibration(CPU, num_threads=1, quick=True)
    measured = set()
    for c in cases:
        if c.benchmark == "conv2d" and c.shape:
            batch, c_in, height, width, c_out, r_h, r_w = c.shape
            measured.add(conv_gemm_shape(batch, (height, width), c_in, (r_h, r_w), c_out))
    # Stride-1 "same" layers: M = batch x side^2. A 16 -> 96 expansion at 112x112, projections
    # 384 -> 64 at 14x14 and 960 -> 160 at 7x7, and LeNet-5's 6 -> 16 5x5 layer on its 10x10 output.
    for shape in ((12544, 16, 96), (196, 384, 64), (49, 960, 160), (100, 150, 16)):
        assert shape in measured
    # They are MobileNetV2's and cifar-cnn's own layers at batch 1: interpolation starts on them.
    layers = {
        op.shape
        for name in ("mobilenet-v2", "cifar-cnn")
        for op in analyze_model(name, 1, memory_kind="cpu").infer_ops
        if op.op_class == "conv" and op.detail != "depthwise"
    }
    assert {(12544, 16, 96), (196, 384, 64), (49, 960, 160), (100, 150, 16)} <= layers


def test_fresh_first_touch_faults_in_new_pages_whatever_the_heap_holds():
    resource = pytest.importorskip("resource")
    n = 2**20  # 4 MiB of fp32
    # Leave free memory in the heap, which an allocation of the same size could be served from.
    held = [torch.ones(n // 4) for _ in range(8)]
    del held

    def faults(fill) -> int:
        fill()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(3):
            fill()
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    fresh = faults(micro.first_touch(device="cpu", fresh=True, n=n).build())
    reused = faults(micro.first_touch(device="cpu", fresh=False, n=n).build())
    # Every call faults its pages in (one per 4 KiB page; per huge page where those are on).
    assert fresh >= 3 and fresh > reused


def test_calibration_measures_fresh_pages_on_cpus_only():
    touches = {
        (c.id, c.flags, c.bytes_per_iteration)
        for c in plan_calibration(CPU, num_threads=1, quick=True)
        if c.benchmark == "first_touch"
    }
    # 64 MiB, above glibc's largest mmap threshold: fresh each call, against the same buffer again.
    assert touches == {
        ("first_touch.fresh.16777216.t1", ("fresh",), 64 * 2**20),
        ("first_touch.reused.16777216.t1", (), 64 * 2**20),
    }
    gpu = plan_calibration(FakeDevice().properties(), num_threads=None, quick=True)
    assert not any(c.benchmark == "first_touch" for c in gpu)

"""Hand-made devices, traced steps and benchmark results shared by the prediction tests.

The arithmetic tests use a hand-made device with flat curves and round numbers, and a hand-made
traced step, so every expected figure is worked out in the comments beside it.
"""

import dataclasses

from typer.testing import CliRunner

from devicefit.analyze.memory import estimate_memory
from devicefit.cli import app
from devicefit.records import (
    CPUProperties,
    DeviceDescription,
    DeviceModel,
    EfficiencyCurve,
    Environment,
    LiveMemory,
    Measurement,
    ModelCost,
    OpCost,
    Peak,
    Result,
    Summary,
    TracedMemory,
)

H100_SXM = "nvidia-h100-sxm5-80gb"
H200 = "nvidia-h200-sxm-141gb"


# --- the roofline on a hand-made device and step ----------------------------------------------

FLAT = EfficiencyCurve(points=((1.0, 0.5),))


def make_device(**overrides):
    """A synchronous CPU: 1 TFLOP/s, 100 GB/s, every curve flat at half the peak."""
    fields = dict(
        device="cpu",
        name="Hand CPU",
        kind="cpu",
        asynchronous=False,
        peak_flops_per_s={"fp32": 1e12},
        bandwidth_bytes_per_s=1e11,
        compute={"matmul.fp32": FLAT},
        memory={"elementwise": FLAT, "stream": FLAT},
        op_overhead_s=1e-5,
        backward_op_overhead_s=5e-6,
        view_overhead_s=1e-6,
        module_overhead_s=2e-6,
        conv_overhead_s=2e-5,
        source="hand-made",
        error_band=0.1,
    )
    fields.update(overrides)
    return DeviceModel(**fields)


def make_gpu(**overrides):
    """The same figures on an asynchronous device (launches overlap kernels)."""
    return make_device(
        **{"device": "cuda:0", "name": "Hand GPU", "kind": "gpu", "asynchronous": True, **overrides}
    )


def mm(phase="forward"):
    # 1000 x 1000 x 1000: 2e9 FLOPs, 8 MB read and 4 MB written.
    return OpCost(
        name="mm",
        op_class="matmul",
        module="fc",
        phase=phase,
        flops=2e9,
        bytes_read=8e6,
        bytes_written=4e6,
        dtype="fp32",
        shape=(1000, 1000, 1000),
    )


def add(phase="forward", nbytes=8e6):
    return OpCost(
        name="add",
        op_class="elementwise",
        module="fc",
        phase=phase,
        flops=nbytes / 8,
        bytes_read=nbytes,
        bytes_written=nbytes / 2,
        dtype="fp32",
    )


VIEW = OpCost(
    name="view",
    op_class="data movement",
    module="",
    phase="forward",
    flops=0.0,
    bytes_read=0.0,
    bytes_written=0.0,
    dtype="fp32",
)


def moment(phase, *, gradients=0.0, activations_per_sample=0.0, transient_per_sample=0.0):
    return LiveMemory(
        phase=phase,
        weights_bytes=4e6,
        gradients_bytes=gradients,
        activations_bytes=0.0,
        transient_bytes=0.0,
        gradients_bytes_per_sample=0.0,
        activations_bytes_per_sample=activations_per_sample,
        transient_bytes_per_sample=transient_per_sample,
    )


#: Weights 4e6; training peaks at 4e6 + 1e6 per sample (1.2e7 at batch 8), inference at
#: 4e6 + 1.25e5 per sample (5e6 at batch 8); what outlives backward: weights and gradients.
TRACED = TracedMemory(
    batch_size=8,
    traced_batch_sizes=(8, 16),
    weights_bytes=4e6,
    trainable_bytes=4e6,
    largest_parameter_bytes=2e6,
    train_moments=(moment("backward", activations_per_sample=1e6),),
    train_end=moment("end", gradients=4e6),
    infer_moments=(moment("forward", transient_per_sample=1.25e5),),
)


def make_cost(**overrides):
    """Forward: mm, add, view; backward: two mm; inference: the mm alone; SGD with momentum."""
    fields = dict(
        model="hand",
        batch_size=8,
        sequence_length=None,
        precision="fp32",
        optimizer="sgd-momentum",
        num_parameters=1_000_000,
        num_trainable_parameters=1_000_000,
        forward_flops=2.001e9,
        backward_flops=4e9,
        optimizer_flops=4e6,
        forward_bytes=2.4e7,
        backward_bytes=2.4e7,
        optimizer_bytes=4e7,
        flop_coverage=1.0,
        uncounted_ops=(),
        num_parameter_tensors=4,
        input_bytes=1e6,
        num_module_calls=3,
        ops=(mm(), add(), VIEW, mm("backward"), mm("backward")),
        infer_ops=(mm(),),
        layers=(),
        classes=(),
        memory=estimate_memory(TRACED, optimizer="sgd-momentum", foreach=False, memory_kind="cpu"),
        traced_memory=TRACED,
        foreach=False,
        method="hand",
    )
    fields.update(overrides)
    return ModelCost(**fields)


# --- calibration fits -------------------------------------------------------------------------

CPU_PROPERTIES = CPUProperties(
    model="Hand EPYC",
    vendor="amd",
    architecture="zen3",
    num_physical_cores=2,
    num_logical_cpus=2,
    num_threads=2,
    isa_features=("avx2", "fma"),
    torch_cpu_capability="AVX2",
    base_clock_hz=2.45e9,
    max_clock_hz=3.5e9,
    clock_source="test",
    simd_fp32_lanes=8,
    fma_units_per_core=2,
    fma_units_source="test",
    l1d_cache_bytes_per_core=32 * 2**10,
    l2_cache_bytes_per_core=512 * 2**10,
    l3_cache_bytes=32 * 2**20,
    memory_bytes=2**34,
)
CPU = DeviceDescription(
    id="cpu",
    kind="cpu",
    name="Hand EPYC",
    vendor="amd",
    memory_bytes=2**34,
    peaks=(Peak(dtype="fp32", flops_per_s=1e11, derivation="round number"),),
    cpu=CPU_PROPERTIES,
)
LAUNCH_S = 4e-6


def timed(benchmark, case_id, median_s, *, unit="s", num_threads=2, **fields):
    """A result whose every sample took ``median_s`` (value: seconds, FLOP/s or B/s by unit)."""
    summary = Summary(
        median_s=median_s, iqr_s=0.0, min_s=median_s, max_s=median_s, mean_s=median_s, cv=0.0, num_samples=5
    )
    if unit == "s":
        value = median_s
    elif unit == "FLOP/s":
        value = fields["flops_per_iteration"] / median_s
    else:
        value = fields["bytes_per_iteration"] / median_s
    return Result(
        device=fields.pop("device", "cpu"),
        benchmark=benchmark,
        case_id=case_id,
        unit=unit,
        num_threads=num_threads,
        value=value,
        measurement=Measurement(
            samples_s=(median_s,) * 5,
            iterations_per_sample=10,
            overhead_s=0.0,
            num_warmup_iterations=10,
            summary=summary,
        ),
        **fields,
    )


def matmul_result(n, fraction, *, peak=1e11, num_threads=2, **fields):
    """An n^3 fp32 product that ran at ``fraction`` of the peak, plus the launch cost."""
    flops = 2.0 * n**3
    return timed(
        "matmul",
        f"matmul.fp32.{n}",
        flops / (fraction * peak) + LAUNCH_S,
        unit="FLOP/s",
        num_threads=num_threads,
        dtype="fp32",
        size=n,
        shape=(n, n, n),
        flops_per_iteration=flops,
        bytes_per_iteration=12.0 * n * n,
        **fields,
    )


def memory_result(benchmark, nbytes, bandwidth, *, num_threads=2):
    return timed(
        benchmark,
        f"{benchmark}.{int(nbytes)}",
        nbytes / bandwidth + LAUNCH_S,
        unit="B/s",
        num_threads=num_threads,
        dtype="fp32",
        bytes_per_iteration=nbytes,
    )


def flat(points):
    """Curve points or shapes as one list, for pytest.approx."""
    return [x for point in points for x in point]


def calibration_results():
    return [
        timed("launch", "launch", LAUNCH_S),
        timed("recorded_op", "recorded_op", 2.5 * LAUNCH_S),
        timed("view", "view", 1.5e-6),
        timed("module_call", "module_call", 3e-6),
        timed("backward_op", "backward_op", 2e-6),
        timed("conv_call", "conv_call", 1.5e-5),
        matmul_result(64, 0.2),
        matmul_result(256, 0.5),
        # A 3x3 layer of 16 to 32 channels at 8x8, batch 2: the product (128, 144, 32) at 0.3.
        conv_result(0.3),
        conv_result(0.2, backward=True),
        # In cache: 1.2e5 bytes at 40 GB/s (3 us of kernel in 7 us); DRAM: 1.2e7 bytes at 20 GB/s.
        memory_result("triad", 1.2e5, 4e10),
        memory_result("triad", 1.2e7, 2e10),
        # 1.2 kB: 30 ns of kernel in 4.03 us is host cost, not a bandwidth: left out.
        memory_result("triad", 1.2e3, 4e10),
        memory_result("copy", 8e6, 1.6e10),
        # Adam over 1 tensor and over 64: 20 us per tensor, 30 us per step.
        timed("optimizer_step", "optimizer_step.adam.1", 5e-5, dtype="adam", size=1),
        timed("optimizer_step", "optimizer_step.adam.64", 3e-5 + 64 * 2e-5, dtype="adam", size=64),
        # 64 MB filled fresh in 48 ms, rewritten in 8 ms: 0.625 ns per byte of fresh pages.
        timed(
            "first_touch", "first_touch.fresh", 0.048, unit="B/s", bytes_per_iteration=6.4e7, flags=("fresh",)
        ),
        timed("first_touch", "first_touch.reused", 0.008, unit="B/s", bytes_per_iteration=6.4e7),
        # Single thread, another device, a failure: all ignored at 2 threads.
        matmul_result(256, 0.25, num_threads=1),
        timed("launch", "launch", 9e-6, num_threads=1),
        matmul_result(256, 0.9, device="cuda:0"),
        dataclasses.replace(matmul_result(512, 0.9), status="error", error="boom"),
    ]


def conv_result(fraction, *, backward=False, peak=1e11):
    """A 3x3 convolution (batch 2, 16 to 32 channels, 8x8) at ``fraction`` of the peak."""
    flops = (4.0 if backward else 2.0) * 128 * 144 * 32
    benchmark = "conv2d_backward" if backward else "conv2d"
    return timed(
        benchmark,
        f"{benchmark}.fp32.2",
        flops / (fraction * peak) + LAUNCH_S,
        unit="FLOP/s",
        dtype="fp32",
        size=2,
        shape=(2, 16, 8, 8, 32, 3, 3),
        flops_per_iteration=flops,
        bytes_per_iteration=4.0 * (2 * 16 * 64 + 2 * 32 * 64 + 32 * 16 * 9),
    )


# --- stored calibrations ----------------------------------------------------------------------

ENVIRONMENT = Environment(
    devicefit_version="0.1.0",
    python_version="3.11.7",
    torch_version="2.13.0+cpu",
    numpy_version="2.4.6",
    platform="Linux 6.1 x86_64",
    hostname="box",
    cpu_model="Hand EPYC",
    torch_num_threads=2,
)


# --- the command line -------------------------------------------------------------------------

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, list(args), env={"COLUMNS": "120"})

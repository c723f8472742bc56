"""Names modules must agree on: device kinds and classes, memory kinds, units, benchmark and curve families.

Each name is spelt here once; code that measures, fits, predicts or shows uses these constants, and
builds a key out of parts only by the formats given here. What a name means for measuring or
predicting lives with the code that does it.
"""

from __future__ import annotations

from typing import Final, Literal

#: A local backend: how devicefit runs work on a device of this machine (``DeviceDescription.kind``).
#: ``fake`` is the simulated asynchronous GPU that tests and ``--device fake`` dry runs use.
DeviceKind = Literal["cpu", "cuda", "mps", "fake"]
#: A device class: what kind of processor a device is, whatever runs it (``DeviceSpec.kind`` of a
#: catalog entry, ``DeviceModel.kind`` of a performance model). ROCm GPUs run through ``cuda``.
DeviceClass = Literal["cpu", "gpu", "tpu"]
#: A memory kind: which memory model applies to a device (allocation rounding, runtime overhead,
#: optimizer temporaries): its allocator's, not its processor's. A catalog GPU's is ``cuda``, an
#: Apple GPU's ``mps``.
MemoryKind = Literal["cpu", "cuda", "mps"]

#: Precisions a step runs at (``--precision``), one meaning everywhere (trace, bench, prediction):
#:
#: - ``fp32``: PyTorch's defaults. Matrix products in IEEE fp32 (``torch.backends.cuda.matmul.allow_tf32``
#:   is False by default since PyTorch 1.12), cuDNN convolutions in TF32 where the GPU has it
#:   (``torch.backends.cudnn.allow_tf32`` is True by default).
#: - ``tf32``: fp32 storage, products and convolutions on tensor cores in TF32 where the device has a
#:   TF32 rate (both switches on); elsewhere (CPUs, V100, T4) the same as ``fp32``.
#: - ``bf16``: autocast to bf16: products and convolutions in bf16, the rest by autocast's op lists.
#: - ``fp16``: autocast to fp16, with a GradScaler in training (what fp16 training needs).
#: - ``amp``: the name NVIDIA's tables give ``fp16``: the same step.
PRECISIONS: Final = ("fp32", "tf32", "bf16", "fp16", "amp")
#: The precision whose trace another shares: tf32 runs fp32's operators on fp32's bytes (the
#: difference is the device's unit), amp is fp16.
TRACED_PRECISION: Final = {"tf32": "fp32", "amp": "fp16"}
#: Precisions whose training step scales the loss with ``torch.amp.GradScaler``.
SCALED_PRECISIONS: Final = ("fp16", "amp")

#: What a benchmark result's ``value`` is measured in (``Result.unit``).
Unit = Literal["FLOP/s", "B/s", "elements/s", "samples/s", "samples", "s"]
#: The unit of a time (the result's value is seconds: smaller is better).
SECONDS: Final = "s"
#: Performance per joule of each rate unit: the rate over the average power (FLOP/s / W = FLOP/J).
PER_JOULE_UNIT: Final = {
    "FLOP/s": "FLOP/J",
    "B/s": "B/J",
    "elements/s": "elements/J",
    "samples/s": "samples/J",
}

#: How an energy figure was obtained (``EnergyReading.method``): read from a hardware energy counter
#: (NVML's total energy, RAPL), integrated from sampled power, estimated from a power model (TDP),
#: or ``none``: no meter, and the reading's note says why.
EnergyMethod = Literal["counter", "sampled", "estimate", "none"]


class Curve:
    """Efficiency curve family names, the keys of ``DeviceModel.compute`` and ``DeviceModel.memory``.

    A compute curve's key adds the dtype it holds for (``COMPUTE_CURVE_KEY``: ``matmul.fp32``); a
    memory curve's is the family alone.
    """

    # Compute curves: fraction of peak against arithmetic intensity.
    MATMUL: Final = "matmul"
    CONV: Final = "conv"
    CONV_BACKWARD: Final = "conv_backward"
    CONV_BACKWARD_WEIGHT: Final = "conv_backward_weight"
    LSTM: Final = "lstm"
    LSTM_BACKWARD: Final = "lstm_backward"
    # Both: a depthwise convolution's compute curve, and its memory curve (it is bandwidth-bound).
    CONV_DEPTHWISE: Final = "conv_depthwise"
    CONV_DEPTHWISE_BACKWARD: Final = "conv_depthwise_backward"
    # Memory curves: fraction of bandwidth against bytes per call.
    STREAM: Final = "stream"
    COPY: Final = "copy"
    ELEMENTWISE: Final = "elementwise"
    BATCH_NORM: Final = "batch_norm"
    BATCH_NORM_BACKWARD: Final = "batch_norm_backward"
    BATCH_NORM_INFER: Final = "batch_norm_infer"
    LAYER_NORM: Final = "layer_norm"
    SOFTMAX: Final = "softmax"
    MAX_POOL: Final = "max_pool"
    MAX_POOL_2X2: Final = "max_pool_2x2"
    MAX_POOL_BACKWARD: Final = "max_pool_backward"
    ACTIVATION: Final = "activation"
    ACTIVATION_TANH: Final = "activation_tanh"
    RANDOM: Final = "random"


#: Memory-bound layer kernels whose benchmark is named after the memory curve it feeds: the
#: ``batch_norm`` benchmark feeds the ``batch_norm`` curve.
LAYER_KERNELS: Final = (
    Curve.ELEMENTWISE,
    Curve.BATCH_NORM,
    Curve.BATCH_NORM_BACKWARD,
    Curve.BATCH_NORM_INFER,
    Curve.LAYER_NORM,
    Curve.SOFTMAX,
    Curve.MAX_POOL,
    Curve.MAX_POOL_2X2,
    Curve.MAX_POOL_BACKWARD,
    Curve.ACTIVATION,
    Curve.ACTIVATION_TANH,
    Curve.RANDOM,
)


class Benchmark:
    """Benchmark family names, as ``Result.benchmark`` stores them (a case's id adds its size and dtype).

    The benchmarks of memory-bound layer kernels are named after the curve they feed
    (``LAYER_KERNELS``); where a name is made of parts, a table below gives each
    (``CONV2D_BENCHMARKS``, ``MAX_POOL_BENCHMARKS``).
    """

    MATMUL: Final = "matmul"
    MATMUL_THREADS: Final = "matmul_threads"
    # STREAM's four kernels (McCalpin).
    COPY: Final = "copy"
    SCALE: Final = "scale"
    ADD: Final = "add"
    TRIAD: Final = "triad"
    TRIAD_THREADS: Final = "triad_threads"
    H2D: Final = "h2d"
    D2H: Final = "d2h"
    LAUNCH: Final = "launch"
    RECORDED_OP: Final = "recorded_op"
    BACKWARD_OP: Final = "backward_op"
    VIEW: Final = "view"
    MODULE_CALL: Final = "module_call"
    CONV_CALL: Final = "conv_call"
    FIRST_TOUCH: Final = "first_touch"
    CONV2D: Final = "conv2d"
    CONV2D_BACKWARD: Final = "conv2d_backward"
    CONV2D_BACKWARD_WEIGHT: Final = "conv2d_backward_weight"
    CONV2D_DEPTHWISE: Final = "conv2d_depthwise"
    CONV2D_DEPTHWISE_BACKWARD: Final = "conv2d_depthwise_backward"
    LSTM: Final = "lstm"
    LSTM_BACKWARD: Final = "lstm_backward"
    OPTIMIZER_STEP: Final = "optimizer_step"
    # Memory-bound layer kernels, each named after the curve it feeds.
    ELEMENTWISE: Final = Curve.ELEMENTWISE
    BATCH_NORM: Final = Curve.BATCH_NORM
    BATCH_NORM_BACKWARD: Final = Curve.BATCH_NORM_BACKWARD
    BATCH_NORM_INFER: Final = Curve.BATCH_NORM_INFER
    LAYER_NORM: Final = Curve.LAYER_NORM
    SOFTMAX: Final = Curve.SOFTMAX
    MAX_POOL: Final = Curve.MAX_POOL
    MAX_POOL_2X2: Final = Curve.MAX_POOL_2X2
    MAX_POOL_BACKWARD: Final = Curve.MAX_POOL_BACKWARD
    ACTIVATION: Final = Curve.ACTIVATION
    ACTIVATION_TANH: Final = Curve.ACTIVATION_TANH
    RANDOM: Final = Curve.RANDOM
    # Model steps: a training step (forward, backward, optimizer), an inference (no-grad forward),
    # and the largest training batch that fits.
    TRAIN_STEP: Final = "train_step"
    INFERENCE: Final = "inference"
    MAX_BATCH: Final = "max_batch"
    # Collectives between processes (torch.distributed), valued in bus bandwidth (nccl-tests).
    ALL_REDUCE: Final = "all_reduce"
    ALL_GATHER: Final = "all_gather"
    REDUCE_SCATTER: Final = "reduce_scatter"
    BROADCAST: Final = "broadcast"


#: STREAM's kernels (McCalpin), in the order STREAM runs them.
STREAM_KERNELS: Final = (Benchmark.COPY, Benchmark.SCALE, Benchmark.ADD, Benchmark.TRIAD)

#: Collectives ``bench --suite comm`` measures, in run order; the names ``predict.collectives`` uses.
COMM_BENCHMARKS: Final = (
    Benchmark.ALL_REDUCE,
    Benchmark.ALL_GATHER,
    Benchmark.REDUCE_SCATTER,
    Benchmark.BROADCAST,
)

#: Copies between host and device memory: host to device, device to host.
HOST_LINK_BENCHMARKS: Final = (Benchmark.H2D, Benchmark.D2H)

#: The convolution benchmark of each (depthwise, backward, weight gradient only): a forward, a
#: backward computing the input's and the weight's gradients, or the weight's alone (a first layer's,
#: whose input needs none). Depthwise layers are never a network's first.
CONV2D_BENCHMARKS: Final = {
    (False, False, False): Benchmark.CONV2D,
    (False, True, False): Benchmark.CONV2D_BACKWARD,
    (False, True, True): Benchmark.CONV2D_BACKWARD_WEIGHT,
    (True, False, False): Benchmark.CONV2D_DEPTHWISE,
    (True, True, False): Benchmark.CONV2D_DEPTHWISE_BACKWARD,
}

#: The max-pool benchmark of each (kernel side, backward): 3x3 windows (ResNet's stem), forward and
#: backward, and 2x2 windows (VGG's, LeNet's) forward.
MAX_POOL_BENCHMARKS: Final = {
    (3, False): Benchmark.MAX_POOL,
    (3, True): Benchmark.MAX_POOL_BACKWARD,
    (2, False): Benchmark.MAX_POOL_2X2,
}


#: The key of a compute curve (and of measured shapes) for one dtype: ``matmul.fp32``.
COMPUTE_CURVE_KEY: Final = "{family}.{dtype}"

#: The key of matrix products measured with their inputs fetched from memory (``DeviceModel.matmul_shapes``
#: keys warm ones by the dtype alone): ``fp32.cold``.
COLD_SHAPES_KEY: Final = "{dtype}.cold"

#: The compute curve each benchmark feeds (its FLOPs per byte against its fraction of peak).
COMPUTE_CURVE_OF_BENCHMARK: Final = {
    Benchmark.MATMUL: Curve.MATMUL,
    Benchmark.CONV2D: Curve.CONV,
    Benchmark.CONV2D_DEPTHWISE: Curve.CONV_DEPTHWISE,
    Benchmark.CONV2D_BACKWARD: Curve.CONV_BACKWARD,
    Benchmark.CONV2D_BACKWARD_WEIGHT: Curve.CONV_BACKWARD_WEIGHT,
    Benchmark.CONV2D_DEPTHWISE_BACKWARD: Curve.CONV_DEPTHWISE_BACKWARD,
    Benchmark.LSTM: Curve.LSTM,
    Benchmark.LSTM_BACKWARD: Curve.LSTM_BACKWARD,
}
#: The memory curve each benchmark feeds (its bytes read plus written per call against its bandwidth).
MEMORY_CURVE_OF_BENCHMARK: Final = {
    Benchmark.COPY: Curve.COPY,
    Benchmark.SCALE: Curve.STREAM,
    Benchmark.ADD: Curve.STREAM,
    Benchmark.TRIAD: Curve.STREAM,
    **{kernel: kernel for kernel in LAYER_KERNELS},
    # A depthwise convolution does a few FLOPs per byte: its bandwidth is what bounds it.
    Benchmark.CONV2D_DEPTHWISE: Curve.CONV_DEPTHWISE,
    Benchmark.CONV2D_DEPTHWISE_BACKWARD: Curve.CONV_DEPTHWISE_BACKWARD,
}

"""Model analysis on fake tensors: counts against the literature, coverage, layers, memory, fallback."""

import math

import pytest

from devicefit.analyze import memory as memory_model
from devicefit.analyze.cost import analyze_model
from devicefit.analyze.memory import max_batch_for
from devicefit.analyze.opclass import classify, convention_flops
from devicefit.errors import UsageError
from devicefit.records import LiveMemory, TracedMemory


def matmul_conv_flops(cost, phase="forward"):
    attr = f"{phase}_flops"
    return sum(getattr(c, attr) for c in cost.classes if c.op_class in ("matmul", "conv", "attention"))


@pytest.fixture(scope="module")
def resnet50():
    return analyze_model("resnet50", 1)


# Literature figures count multiply-adds; devicefit counts 2 FLOPs per multiply-add.
@pytest.mark.parametrize(
    ("name", "parameters", "giga_macs", "source"),
    [
        # torchvision model docs: ResNet50_Weights.IMAGENET1K_V1, 25,557,032 params, 4.09 GFLOPS (MACs).
        ("resnet50", 25_557_032, 4.09, "torchvision resnet50"),
        # Sandler et al. 2018, Table 4: 3.4M params (3,504,872 in torchvision), 300M multiply-adds.
        ("mobilenet-v2", 3_504_872, 0.300, "Sandler et al. 2018"),
        # torchvision ViT_B_16_Weights: 86,567,656 params, 17.56 GFLOPS (MACs) at 224x224.
        ("vit-b16", 86_567_656, 17.56, "torchvision vit_b_16"),
    ],
)
def test_vision_counts_match_the_literature(name, parameters, giga_macs, source):
    cost = analyze_model(name, 1)
    assert cost.num_parameters == parameters, source
    assert matmul_conv_flops(cost) / 2 == pytest.approx(giga_macs * 1e9, rel=0.02), source
    # Backward computes two products per forward product (gradients of inputs and of weights).
    assert cost.backward_flops / cost.forward_flops == pytest.approx(2.0, abs=0.15)


def test_transformer_parameter_counts():
    # Devlin et al. 2019 / HF bert-base-uncased: 109,482,240 with the pooler; Radford et al. 2019: 124M.
    assert analyze_model("bert-base", 1, sequence_length=16).num_parameters == 109_482_240
    gpt2 = analyze_model("gpt2", 1, sequence_length=64)
    assert gpt2.num_parameters == 124_439_808
    # Forward matrix products of a decoder: 2 x (non-embedding parameters) per token, plus the tied
    # 768 x 50,257 head and attention's 2 x 2 x layers x tokens x width per token (Kaplan et al. 2020).
    tokens, width, layers, vocab = 64, 768, 12, 50_257
    non_embedding = 12 * (4 * width * width + 2 * width * 4 * width)
    expected = 2 * tokens * (non_embedding + width * vocab) + 4 * layers * tokens * tokens * width
    assert matmul_conv_flops(gpt2) == pytest.approx(expected, rel=0.01)


def test_lstm_flops_follow_the_gate_products():
    # Per layer and token: 2 x 4H x (I + H) = 2 x 2600 x 1300; two layers; plus the 650 x 10,000 decoder.
    cost = analyze_model("lstm-lm", 4, sequence_length=35)
    tokens = 4 * 35
    expected = tokens * (2 * 2 * 2600 * 1300 + 2 * 650 * 10_000)
    assert matmul_conv_flops(cost) == pytest.approx(expected, rel=0.01)


def test_every_zoo_operator_has_a_formula(resnet50):
    assert resnet50.flop_coverage == 1.0
    assert resnet50.uncounted_ops == ()


def test_flops_scale_with_batch(resnet50):
    four = analyze_model("resnet50", 4)
    # Linear but for per-channel statistics and the loss, which do not grow with the batch.
    assert four.forward_flops == pytest.approx(4 * resnet50.forward_flops, rel=1e-3)


def test_layers_and_classes_add_up(resnet50):
    assert sum(layer.forward_flops for layer in resnet50.layers) == pytest.approx(resnet50.forward_flops)
    assert sum(c.backward_flops for c in resnet50.classes) == pytest.approx(resnet50.backward_flops)
    conv1 = next(layer for layer in resnet50.layers if layer.name == "stem.0")
    # 7x7 stem: 2 x 112 x 112 x 64 x 3 x 49 FLOPs forward, 9,408 weights.
    assert conv1.forward_flops == 2 * 112 * 112 * 64 * 3 * 49
    assert conv1.type == "Conv2d" and conv1.num_parameters == 9_408
    classes = {c.op_class for c in resnet50.classes}
    assert {"conv", "normalization", "elementwise", "matmul"} <= classes
    assert resnet50.forward_intensity > 1


def test_convolutions_carry_their_implicit_matrix_product_shape(resnet50):
    convs = [op for op in resnet50.ops if op.name == "convolution"]
    # The 7x7 stride-2 stem: M = 112 x 112 output pixels, K = 3 channels x 49 taps, N = 64.
    assert convs[0].shape == (112 * 112, 3 * 49, 64)
    assert convs[0].flops == 2 * math.prod(convs[0].shape)
    # Its backward has the same product (only the weight gradient: the image needs none).
    backward = [op for op in resnet50.ops if op.name == "convolution_backward"]
    assert backward[-1].shape == convs[0].shape and backward[-1].flops == convs[0].flops
    # Every dense convolution's forward FLOPs are its product's.
    assert all(op.flops == 2 * math.prod(op.shape) for op in convs)
    mobilenet = analyze_model("mobilenet-v2", 2)
    depthwise = next(op for op in mobilenet.ops if op.detail == "depthwise")
    # A depthwise 3x3 layer reads one channel per output: K = 9 taps.
    assert depthwise.shape[1] == 9 and depthwise.shape[0] % 2 == 0


def test_tanh_approximate_gelu_is_told_apart_from_bert_s_erf_gelu():
    gpt2 = analyze_model("gpt2", 1, sequence_length=16)
    gelus = {(op.name, op.detail) for op in gpt2.ops if op.name.startswith("gelu")}
    assert gelus == {("gelu", "tanh"), ("gelu_backward", "tanh")}
    bert = analyze_model("bert-base", 1, sequence_length=16)
    assert {op.detail for op in bert.ops if op.name.startswith("gelu")} == {""}


def test_two_by_two_max_pooling_is_told_apart_from_resnet_s_three_by_three(resnet50):
    cnn = analyze_model("cifar-cnn", 2)
    pools = {(op.name, op.detail) for op in cnn.ops if op.name.startswith("max_pool")}
    assert pools == {("max_pool2d_with_indices", "2x2"), ("max_pool2d_with_indices_backward", "")}
    assert {op.detail for op in resnet50.ops if op.name.startswith("max_pool")} == {""}


def test_a_first_layer_s_backward_is_marked_weight_only(resnet50):
    backward = [op for op in resnet50.ops if op.name == "convolution_backward"]
    # ResNet-50's stem runs on the input images, which need no gradient; its 52 other layers do.
    assert [op.module for op in backward if op.detail == "weight_only"] == ["stem.0"]
    assert len(backward) == 53
    stem = next(op for op in resnet50.ops if op.name == "convolution" and op.module == "stem.0")
    assert next(op for op in backward if op.module == "stem.0").flops == stem.flops


def test_convolutions_are_marked_by_whether_a_cpu_runs_them_channel_blocked():
    def blocking(model, batch):
        cost = analyze_model(model, batch)
        return {(op.module, op.channel_blocking) for op in cost.ops if op.name == "convolution"}

    mobilenet = dict(blocking("mobilenet-v2", 1))
    # The stem (3x3, stride 2) runs by oneDNN; depthwise layers by its GEMM; at batch 1 a 1x1
    # layer runs by oneDNN only with more than one thread, and the last blocks' 1x1 layers, on
    # 7x7 maps of 160 channels (7840 elements), by PyTorch's own kernel.
    assert mobilenet["features.0"] == "always"
    assert mobilenet["features.3.body.0"] == "never"  # depthwise
    assert mobilenet["features.3.body.3"] == "threaded"
    assert mobilenet["features.17.body.0"] == "never"
    assert mobilenet["features.17.body.6"] == "threaded"  # from 960 channels: 47040 elements
    assert {v for _, v in blocking("mobilenet-v2", 16)} == {"always", "never"}
    assert {v for _, v in blocking("cifar-cnn", 2)} == {"always"}
    backward = {
        op.channel_blocking for op in analyze_model("cifar-cnn", 2).ops if op.name == "convolution_backward"
    }
    assert backward == {"always"}


def test_memory_components(resnet50):
    memory = resnet50.memory
    weights = 25_557_032 * 4
    assert memory.weights_bytes == pytest.approx(weights, rel=0.01)
    assert memory.optimizer_state_bytes == pytest.approx(weights, rel=0.01)  # SGD momentum: one buffer
    # The peak comes late in backward: most gradients exist, the early layers' activations remain.
    assert memory.train_peak_phase == "backward"
    assert 0.5 * weights < memory.gradients_bytes <= 1.01 * weights
    assert memory.activations_bytes > 0
    parts = memory.weights_bytes + memory.gradients_bytes + memory.optimizer_state_bytes
    parts += memory.activations_bytes + memory.transient_bytes
    assert memory.train_peak_bytes == pytest.approx(parts, rel=1e-12)
    assert memory.infer_peak_bytes < memory.train_peak_bytes
    assert memory.train_bytes_per_sample > memory.infer_bytes_per_sample > 0
    assert memory.overhead_bytes > 0


def test_largest_batch_fits_and_one_more_does_not():
    cost = analyze_model("resnet18", 8, memory_kind="cuda")
    traced = cost.traced_memory
    limit = 8 * 2**30
    best = memory_model.max_batch_size(
        traced, limit, optimizer="sgd-momentum", foreach=True, memory_kind="cuda"
    )

    def total(batch):
        m = memory_model.estimate_memory(
            traced, optimizer="sgd-momentum", foreach=True, memory_kind="cuda", batch_size=batch
        )
        return m.train_peak_bytes + m.overhead_bytes

    assert total(best) <= limit < total(best + 1)


def test_mixed_precision_runs_matmuls_in_bf16_and_saves_less():
    fp32 = analyze_model("vit-b16", 2, precision="fp32")
    bf16 = analyze_model("vit-b16", 2, precision="bf16")
    assert {op.dtype for op in bf16.ops if op.op_class == "matmul" and op.phase == "forward"} == {"bf16"}
    # Per sample, bf16 activations take less; the weights' bf16 copies saved for backward do not
    # grow with the batch.
    assert bf16.memory.train_bytes_per_sample < 0.8 * fp32.memory.train_bytes_per_sample
    assert bf16.forward_flops == pytest.approx(fp32.forward_flops, rel=0.01)


def test_seventy_billion_parameters_profile_without_memory():
    cost = analyze_model("decoder:like=decoder-70b,depth=2", 1, sequence_length=128)
    # Two of the 80 blocks at full width: every tensor is fake, nothing is allocated.
    assert cost.method == "fake tensors"
    assert cost.memory.weights_bytes > 4 * 2 * 8192 * 28672 * 3


def test_data_dependent_model_falls_back_to_a_real_cpu_batch(tmp_path):
    path = tmp_path / "branchy.py"
    path.write_text(
        "import torch\n"
        "class Net(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__(); self.a = torch.nn.Linear(8, 8); self.b = torch.nn.Linear(8, 8)\n"
        "    def forward(self, x):\n"
        "        return self.a(x) if x.sum().item() > 0 else self.b(x)\n"
        "def make(batch_size):\n"
        "    return Net(), torch.rand(batch_size, 8)\n"
    )
    cost = analyze_model(f"{path}:make", 8)
    assert cost.method.startswith("a real batch of 2")
    assert any("fails on fake tensors" in w for w in cost.warnings)
    # One 8x8 linear layer per sample: 2 x 8 x 8 x 8 samples = 1024 FLOPs, scaled from batch 2.
    assert matmul_conv_flops(cost) == pytest.approx(2 * 8 * 8 * 8)


def test_bad_arguments_are_usage_errors():
    with pytest.raises(UsageError, match="unknown precision"):
        analyze_model("mlp", precision="int4")
    with pytest.raises(UsageError, match="unknown optimizer"):
        analyze_model("mlp", optimizer="lion")
    with pytest.raises(UsageError, match="unknown model"):
        analyze_model("resnet51")


@pytest.mark.parametrize(
    ("name", "pointwise", "expected"),
    [
        ("addmm", False, "matmul"),
        ("convolution_backward", False, "conv"),
        ("relu_", True, "elementwise"),
        ("threshold_backward", False, "elementwise"),
        ("native_layer_norm", False, "normalization"),
        ("_log_softmax", False, "reduction"),
        ("embedding_dense_backward", False, "embedding"),
        ("view", False, "data movement"),
        ("copy_", False, "data movement"),
        ("_scaled_dot_product_flash_attention_for_cpu", False, "attention"),
        ("mystery_op", False, "other"),
    ],
)
def test_operator_classes(name, pointwise, expected):
    assert classify(name, pointwise=pointwise) == expected


def test_conventions_count_elementwise_and_leave_unknown_ops_uncounted():
    assert convention_flops("add", "elementwise", input_elements=20, output_elements=10) == 10
    assert convention_flops("_softmax", "reduction", input_elements=10, output_elements=10) == 50
    assert convention_flops("native_layer_norm", "normalization", input_elements=10, output_elements=10) == 50
    assert convention_flops("cat", "data movement", input_elements=10, output_elements=10) == 0
    assert convention_flops("mystery_op", "other", input_elements=10, output_elements=10) is None


def live(phase, *, gradients=0.0, activations=0.0, transient=0.0, per_sample=0.0, weights=400.0):
    """A moment whose activations grow by ``per_sample``."""
    return LiveMemory(
        phase=phase,
        weights_bytes=weights,
        gradients_bytes=gradients,
        activations_bytes=activations,
        transient_bytes=transient,
        gradients_bytes_per_sample=0.0,
        activations_bytes_per_sample=per_sample,
        transient_bytes_per_sample=0.0,
    )


def hand_traced(train_moments, infer_moments=None):
    return TracedMemory(
        batch_size=1,
        traced_batch_sizes=(1, 2),
        weights_bytes=400.0,
        trainable_bytes=400.0,
        largest_parameter_bytes=100.0,
        train_moments=tuple(train_moments),
        train_end=live("end", gradients=400.0),
        infer_moments=tuple(infer_moments or [live("forward", transient=40.0, per_sample=5.0)]),
    )


def test_adam_foreach_holds_a_copy_of_the_parameters():
    # Forward-backward: 400 weights + 490 + 10 per sample; at batch 1, 900.
    traced = hand_traced([live("backward", gradients=200.0, activations=290.0, per_sample=10.0)])
    gpu = memory_model.estimate_memory(traced, optimizer="adamw", foreach=True, memory_kind="cuda")
    cpu = memory_model.estimate_memory(traced, optimizer="adamw", foreach=False, memory_kind="cpu")
    # State: 2 x 400. Optimizer step: weights 400 + grads 400 + state 800 + sqrt(v) for all (400) or
    # for the largest parameter twice (200); forward-backward: 900 + 800 = 1700.
    assert gpu.optimizer_state_bytes == 800
    assert gpu.train_peak_bytes == max(900 + 800, 400 + 400 + 800 + 400) == 2000
    assert cpu.train_peak_bytes == max(1700, 400 + 400 + 800 + 200) == 1800
    # At the optimizer step nothing of forward and backward is left but weights and gradients.
    assert (gpu.train_peak_phase, gpu.activations_bytes, gpu.transient_bytes) == ("optimizer step", 0, 400)
    at_ten = memory_model.estimate_memory(
        traced, optimizer="sgd", foreach=True, memory_kind="cuda", batch_size=10
    )
    assert at_ten.train_peak_bytes == 900 + 9 * 10 and at_ten.infer_peak_bytes == 40 + 400 + 10 * 5
    # SGD keeps no state: the backward moment holds the peak, with its own parts.
    assert at_ten.train_peak_phase == "backward"
    assert (at_ten.gradients_bytes, at_ten.activations_bytes) == (200, 290 + 10 * 10)


def test_peak_is_the_largest_moment_at_every_batch():
    # 1400 flat leads up to batch 6, 1100 + 50 per sample up to 14, then 400 + 100 per sample;
    # 500 + 20 per sample never leads.
    flat = live("backward", gradients=400.0, transient=600.0)
    middle = live("backward", activations=700.0, per_sample=50.0)
    steep = live("forward", per_sample=100.0)
    never = live("forward", activations=100.0, per_sample=20.0)
    hull = memory_model.peak_moments([steep, never, middle, flat])
    assert hull == (flat, middle, steep)
    traced = hand_traced([flat, middle, steep, never])
    for batch in (0, 1, 7, 10, 13, 20, 1000):
        at_batch = memory_model.estimate_memory(
            traced, optimizer="sgd", foreach=True, memory_kind="cuda", batch_size=batch
        )
        everything = max(memory_model.moment_bytes(m, batch) for m in (flat, middle, steep, never))
        assert at_batch.train_peak_bytes == pytest.approx(max(everything, 800.0))


def test_breakdown_adds_up_to_the_peak_at_every_batch(tiny_lm):
    cost = analyze_model(tiny_lm, 2, optimizer="adamw", memory_kind="cuda")
    phases = set()
    for batch in (1, 2, 10, 100, 1000):
        m = memory_model.estimate_memory(
            cost.traced_memory, optimizer="adamw", foreach=True, memory_kind="cuda", batch_size=batch
        )
        phases.add(m.train_peak_phase)
        parts = (
            m.weights_bytes,
            m.gradients_bytes,
            m.optimizer_state_bytes,
            m.master_weights_bytes,
            m.activations_bytes,
            m.transient_bytes,
        )
        assert min(parts) >= 0
        assert sum(parts) == pytest.approx(m.train_peak_bytes, rel=1e-12)
    # AdamW's step holds the peak at small batches, activations at large ones.
    assert phases == {"optimizer step", "backward"}


#: A language model whose weights dwarf its activations at small batches: a 20,000-token vocabulary,
#: width 64, 8 tokens per sample.
TINY_LM = """
import torch
import torch.nn.functional as F


class TinyLM(torch.nn.Module):
    def __init__(self, vocab=20000, width=64):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, width)
        self.hidden = torch.nn.Linear(width, width)
        self.head = torch.nn.Linear(width, vocab)

    def forward(self, tokens):
        return self.head(torch.relu(self.hidden(self.embed(tokens))))


def make(batch_size):
    tokens = torch.randint(0, 20000, (batch_size, 8))
    labels = torch.randint(0, 20000, (batch_size, 8))
    return TinyLM(), tokens, lambda logits: F.cross_entropy(logits.flatten(0, 1), labels.flatten())
"""


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "tiny_lm.py"
    path.write_text(TINY_LM)
    return f"{path}:make"


def test_largest_batch_is_the_same_whatever_batch_it_is_asked_from(tiny_lm):
    # At small batches AdamW's step (weights, gradients, two moments, sqrt(v): 5 x 5.2 MB) holds
    # the peak and the forward-backward peak barely grows: the slope between two small batches
    # says nothing about large ones. The memory model evaluated at candidate batches does.
    limit = 2**30
    costs = [analyze_model(tiny_lm, batch, optimizer="adamw", memory_kind="cuda") for batch in (1, 2, 4, 16)]
    assert costs[0].memory.train_peak_phase == "optimizer step"
    for train in (True, False):
        largest = [max_batch_for(cost, limit, memory_kind="cuda", train=train) for cost in costs]
        assert max(largest) <= 1.02 * min(largest), largest
    # The logits and their gradient alone take 2 x 8 x 20,000 x 4 bytes = 1.28 MB per sample; the
    # 512 MiB left beside the runtime overhead hold a few hundred samples, not hundreds of thousands.
    assert 100 < max_batch_for(costs[0], limit, memory_kind="cuda") < 512 * 2**20 / 1.28e6

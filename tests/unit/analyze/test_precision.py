"""Precisions and memory formats in the trace: autocast's casts, the loss scaler, tf32, channels-last."""

import pytest

from devicefit.analyze.cache import analyze_model_cached
from devicefit.analyze.cost import analyze_model
from devicefit.errors import UsageError

# cifar-cnn: 2 convolutions (3->6 and 6->16 channels, 5x5) and 3 linear layers; 10 parameter tensors.
MODEL, BATCH = "cifar-cnn", 4


@pytest.fixture(scope="module")
def amp():
    return analyze_model(MODEL, BATCH, precision="amp", memory_kind="cuda")


def test_autocast_pays_for_casting_each_weight_once_per_forward(amp):
    casts = [op for op in amp.ops if op.phase == "forward" and op.name == "_to_copy"]
    # Every weight and bias of the 5 product layers (10 tensors, 62,006 parameters), plus the input
    # images and the logits cast back to fp32 for the loss.
    weights = [
        op for op in casts if op.module and op.dtype == "fp16" and op.bytes_read == 2 * op.bytes_written
    ]
    assert len(weights) >= 10
    assert sum(op.bytes_read for op in weights) >= 4 * amp.num_trainable_parameters
    products = [op for op in amp.ops if op.op_class in ("conv", "matmul")]
    assert products and all(op.dtype == "fp16" for op in products)
    assert any(op.name == "_to_copy" for op in amp.infer_ops)


def test_fp16_training_traces_the_loss_scaler_over_every_gradient(amp):
    names = [op.name for op in amp.ops]
    (unscale,) = [op for op in amp.ops if op.name == "_amp_foreach_non_finite_check_and_unscale_"]
    # torch/amp/grad_scaler.py: one pass reading and writing every (fp32) gradient, then the update.
    gradient_bytes = 4 * amp.num_trainable_parameters
    assert unscale.bytes_read >= gradient_bytes and unscale.bytes_written >= gradient_bytes
    assert "_amp_update_scale_" in names
    assert names.index("_amp_update_scale_") > names.index("_amp_foreach_non_finite_check_and_unscale_")
    # Inference scales nothing; bf16 needs no scaler.
    assert not any(op.name.startswith("_amp_") for op in amp.infer_ops)
    bf16 = analyze_model(MODEL, BATCH, precision="bf16", memory_kind="cuda")
    assert not any(op.name.startswith("_amp_") for op in bf16.ops)


def test_amp_is_fp16_and_tf32_is_fp32_sharing_their_cached_traces(tmp_path):
    def cached(precision, **kwargs):
        return analyze_model_cached(MODEL, BATCH, precision=precision, directory=tmp_path, **kwargs)[0]

    fp32, tf32 = cached("fp32"), cached("tf32")
    assert len(list(tmp_path.glob("*.json"))) == 1
    assert (fp32.precision, tf32.precision) == ("fp32", "tf32")
    assert tf32.ops == fp32.ops
    fp16, amp = cached("fp16"), cached("amp")
    assert len(list(tmp_path.glob("*.json"))) == 2
    assert amp.precision == "amp" and amp.ops == fp16.ops
    # Channels-last is another trace, with its own entry.
    last = cached("amp", channels_last=True)
    assert last.channels_last and not amp.channels_last
    assert len(list(tmp_path.glob("*.json"))) == 3


def test_a_convolution_records_its_activation_bytes_for_layout_transposes():
    cost = analyze_model(MODEL, BATCH, memory_kind="cuda")
    first = next(op for op in cost.ops if op.name == "convolution")
    # Input 4 x 3 x 32 x 32 and output 4 x 6 x 28 x 28, fp32.
    assert first.layout_bytes == 4 * (4 * 3 * 32 * 32 + 4 * 6 * 28 * 28)
    # The first layer's backward computes no input gradient: output gradient and input alone.
    backward = [op for op in cost.ops if op.name == "convolution_backward"][-1]
    assert backward.layout_bytes == 4 * (4 * 6 * 28 * 28 + 4 * 3 * 32 * 32)
    assert all(op.layout_bytes == 0 for op in cost.ops if op.op_class != "conv")


def test_an_unknown_precision_names_the_choices():
    with pytest.raises(UsageError) as raised:
        analyze_model(MODEL, BATCH, precision="fp8")
    assert raised.value.fix == "Choose from: fp32, tf32, bf16, fp16, amp"


def test_channels_last_traces_on_fake_tensors_and_derives_other_batches():
    # module.to(memory_format=...) refused to swap fake parameters, so every channels-last analysis
    # fell back to a real CPU batch (and a big model took minutes per batch).
    from devicefit.analyze.cost import analyze_model_derivable

    cost, anchors = analyze_model_derivable("cifar-cnn", 2, precision="amp", channels_last=True)
    assert cost.warnings == ()
    assert cost.method == "fake tensors"
    assert anchors is not None

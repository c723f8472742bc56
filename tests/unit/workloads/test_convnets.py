"""NVIDIA's published ImageNet convnets: FLOPs against their papers, image sizes, a real step, the listing."""

import json
import math

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from typer.testing import CliRunner

from devicefit.analyze.cost import analyze_model
from devicefit.cli import app
from devicefit.errors import UsageError
from devicefit.workloads import build_model, model_info

DLE_MODELS = (
    "resnext101-32x4d",
    "se-resnext101-32x4d",
    "efficientnet-b0",
    "efficientnet-widese-b0",
    "efficientnet-b4",
    "efficientnet-widese-b4",
)


def forward_giga_macs(name: str) -> float:
    """Multiply-adds of one image's forward pass, counted on meta tensors (a multiply-add is 2 FLOPs)."""
    instance = build_model(name, 1)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        instance.module.eval()(*instance.inputs)
    return counter.get_total_flops() / 2e9


@pytest.mark.parametrize(
    ("name", "giga_macs", "tolerance", "source"),
    [
        # Xie et al. 2017 Table 5 and DLE's README: 8.0 GFLOPs (multiply-adds) at 224.
        ("resnext101-32x4d", 8.0, 0.02, "ResNeXt-101 32x4d"),
        # Hu et al. 2018 Table 2: SE-ResNeXt-101 (32x4d) 8.0 GFLOPs; SE adds 0.006 GMACs of FC layers.
        ("se-resnext101-32x4d", 8.0, 0.02, "SE-ResNeXt-101 32x4d"),
        # Tan and Le 2019 Table 2: B0 0.39B FLOPs (multiply-adds) at 224.
        ("efficientnet-b0", 0.39, 0.02, "EfficientNet-B0"),
        # Tan and Le 2019 Table 2: B4 4.2B at 380. The count here is 4.39: every depthwise and SE product
        # in full (timm's efficientnet_b4 lists 4.51 GMACs at 384, i.e. 4.41 at 380).
        ("efficientnet-b4", 4.2, 0.05, "EfficientNet-B4"),
    ],
)
def test_forward_multiply_adds_match_the_papers(name, giga_macs, tolerance, source):
    assert forward_giga_macs(name) == pytest.approx(giga_macs, rel=tolerance), source


def test_wide_se_widens_only_the_squeeze_excitation():
    # WideSE changes the SE projections (1x1 on a 1x1 map: a few MMACs) and nothing else.
    narrow, wide = forward_giga_macs("efficientnet-b0"), forward_giga_macs("efficientnet-widese-b0")
    assert 0 < wide - narrow < 0.01
    block = build_model("efficientnet-widese-b0", 1).module.features[4]
    # Stage 2's first block: 16 in, expanded 6x to 96; its SE squeezes 96 / 4 = 24, not 16 / 4 = 4.
    assert block.se.squeeze.weight.shape == (24, 96)


def test_image_size_follows_the_name_and_scales_the_work():
    assert build_model("efficientnet-b4", 2).inputs[0].shape == (2, 3, 380, 380)
    instance = build_model("EfficientNet-B4@320", 2)
    assert instance.inputs[0].shape == (2, 3, 320, 320) and instance.info.name == "efficientnet-b4@320"
    assert model_info("efficientnet-b4@320").optimizer == "rmsprop-momentum"
    # Convolutions scale with the pixels: (320 / 380)^2 of the work, to within the 1x1-map layers.
    ratio = forward_giga_macs("efficientnet-b4@320") / forward_giga_macs("efficientnet-b4")
    assert ratio == pytest.approx((320 / 380) ** 2, rel=0.02)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("efficientnet-b4@abc", "is not a whole number of pixels"),
        ("efficientnet-b4@16", "from 32 to 2048"),
        ("vit-b16@384", "takes no image size"),
        ("mlp@64", "takes no image size"),
    ],
)
def test_invalid_image_size_is_a_usage_error(name, message):
    with pytest.raises(UsageError, match=message):
        model_info(name)


def test_efficientnet_trains_on_cpu_with_stochastic_depth():
    torch.manual_seed(0)
    instance = build_model("efficientnet-widese-b0@32", 2, device="cpu")
    last = instance.module.features[-4]
    assert last.residual is False and instance.module.features[-5].survival_prob < 1.0
    loss = instance.loss(instance.module(*instance.inputs))
    loss.backward()
    assert math.isfinite(loss.item())
    assert instance.module.classifier[1].weight.grad.abs().sum() > 0


@pytest.fixture(scope="module")
def se_resnext():
    return analyze_model("se-resnext101-32x4d", 1)


def test_se_resnext_profiles_on_fake_tensors_with_every_op_covered(se_resnext):
    assert se_resnext.warnings == () and se_resnext.num_parameters == 48_955_416
    # Backward computes two products per forward product (gradients of inputs and of weights).
    assert se_resnext.backward_flops / se_resnext.forward_flops == pytest.approx(2.0, abs=0.15)


def test_efficientnet_profiles_with_rmsprop_state():
    cost = analyze_model("efficientnet-b0@64", 2)
    assert cost.warnings == () and cost.optimizer == "rmsprop-momentum"
    # RMSprop with momentum keeps square_avg and momentum_buffer: two fp32 copies of 5,288,548 weights.
    assert cost.memory.optimizer_state_bytes == 2 * 4 * 5_288_548


def test_models_lists_the_published_convnets():
    result = CliRunner().invoke(app, ["models", "*resnext*", "--json"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    models = json.loads(result.stdout)["models"]
    assert [m["name"] for m in models] == ["resnext101-32x4d", "se-resnext101-32x4d"]
    listed = CliRunner().invoke(app, ["models", "efficientnet*"], env={"COLUMNS": "200"}).stdout
    assert all(name in listed for name in DLE_MODELS[2:])

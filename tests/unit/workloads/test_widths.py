"""Models at another width: the zoo MLP, decoders and user factories, one model name per width."""

import textwrap

import pytest

from devicefit.errors import UsageError
from devicefit.workloads import build_model
from devicefit.workloads.decoder import parse_decoder_spec
from devicefit.workloads.widths import at_width


def linear_shapes(name):
    module = build_model(name, 2).module
    return [tuple(p.shape) for n, p in module.named_parameters() if n.endswith("weight")]


def test_the_zoo_mlp_at_a_width_resizes_its_hidden_layers():
    assert at_width("mlp", 256) == "mlp:width=256,depth=2"
    # 784 inputs, two hidden layers of 256, 10 classes: weights are (out, in).
    assert linear_shapes("mlp:width=256,depth=2") == [(256, 784), (256, 256), (10, 256)]
    assert at_width("mlp:width=64,depth=3", 32) == "mlp:width=32,depth=3"
    assert linear_shapes("mlp:width=32,depth=3") == [(32, 784), (32, 32), (32, 32), (10, 32)]


def test_a_bad_mlp_option_is_named():
    with pytest.raises(UsageError, match="'height=3' is not width=N or depth=N"):
        build_model("mlp:height=3")


def test_a_decoder_keeps_its_head_width_and_its_grouping():
    name = at_width("gpt2", 512)
    config, _ = parse_decoder_spec(name.partition(":")[2])
    # GPT-2's heads are 64 wide: 512 / 64 = 8 heads.
    assert (config.width, config.heads, config.head_width, config.depth) == (512, 8, 64, 12)
    # decoder-70b: 64 heads of 128 over 8 kv heads (8 queries per kv head), and a 28,672 MLP
    # (3.5 x 8,192): at 1,024 wide, 8 heads over 1 kv head and a 3,584 MLP.
    config, _ = parse_decoder_spec(at_width("decoder-70b", 1024).partition(":")[2])
    assert (config.heads, config.kv_heads, config.ffn_width) == (8, 1, 3584)
    custom = at_width("decoder:depth=2", 256)
    assert parse_decoder_spec(custom.partition(":")[2])[0].depth == 2


def test_a_decoder_width_its_heads_cannot_divide_is_refused():
    with pytest.raises(UsageError, match="not a multiple of its head width 64"):
        at_width("gpt2", 100)


def test_a_user_factory_with_a_width_parameter_gets_it(tmp_path):
    path = tmp_path / "sized.py"
    path.write_text(
        textwrap.dedent(
            """
            import torch
            from torch import nn

            def make(batch_size, width=16):
                return nn.Linear(8, width), torch.randn(batch_size, 8)

            def fixed(batch_size):
                return nn.Linear(8, 8), torch.randn(batch_size, 8)
            """
        )
    )
    name = at_width(f"{path}:make", 48)
    assert name == f"{path}:make,width=48"
    assert linear_shapes(name) == [(48, 8)]
    with pytest.raises(UsageError, match="takes no width parameter"):
        at_width(f"{path}:fixed", 48)


def test_a_model_without_a_width_is_refused_with_the_fix():
    with pytest.raises(UsageError, match="resnet18 has no width to sweep") as error:
        at_width("resnet18", 512)
    assert "mlp" in error.value.fix

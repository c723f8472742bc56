"""The model zoo, custom decoders and user models: parameter counts, one training step, loader errors."""

import dataclasses
import importlib.util
import math
import textwrap

import pytest
import torch
from torch import nn

from devicefit.errors import UsageError
from devicefit.workloads import (
    OPTIMIZERS,
    DecoderConfig,
    build_decoder,
    build_model,
    list_models,
    mean_square_loss,
    model_info,
)

# Parameter counts of the published reference implementations.
EXPECTED_PARAMETERS = {
    # (784*1024 + 1024) + (1024*1024 + 1024) + (1024*10 + 10)
    "mlp": 1_863_690,
    # PyTorch tutorial "Training a Classifier": conv (3*6*25 + 6) + conv (6*16*25 + 16)
    # + fc (400*120 + 120) + fc (120*84 + 84) + fc (84*10 + 10)
    "cifar-cnn": 62_006,
    # torchvision model docs (MobileNet_V2_Weights.IMAGENET1K_V1 "num_params"); Sandler et al. 2018
    "mobilenet-v2": 3_504_872,
    # torchvision model docs (ResNet18_Weights / ResNet50_Weights "num_params"); He et al. 2016
    "resnet18": 11_689_512,
    "resnet50": 25_557_032,
    # timm resnext101_32x4d / seresnext101_32x4d num_params (DLE README: 44.18M, 48.96M); the SE blocks add
    # per block 2 * C * C/16 weights + C + C/16 biases: 3, 4, 23, 3 blocks of C = 256 ... 2048 -> 4,777,712.
    "resnext101-32x4d": 44_177_704,
    "se-resnext101-32x4d": 44_177_704 + 4_777_712,
    # timm efficientnet_b0 / efficientnet_b4 num_params; Tan and Le 2019 Table 2: 5.3M, 19M.
    "efficientnet-b0": 5_288_548,
    # DLE's WideSE: each SE bottleneck is a quarter of the expanded width, not of the input width; the
    # count is this build's (the SE projections grow 6x in every expand-6 block).
    "efficientnet-widese-b0": 8_423_848,
    "efficientnet-b4": 19_341_616,
    "efficientnet-widese-b4": 34_927_246,
    # Zaremba et al. 2014 medium with nn.LSTM's two bias vectors per gate:
    # embedding 10000*650 + 2 layers * (4*650*(650 + 650) + 2*4*650) + softmax (650*10000 + 10000)
    "lstm-lm": 10_000 * 650 + 2 * (4 * 650 * 1300 + 2 * 4 * 650) + 650 * 10_000 + 10_000,
    # torchvision model docs (ViT_B_16_Weights.IMAGENET1K_V1 "num_params"); Dosovitskiy et al. 2021
    "vit-b16": 86_567_656,
    # HuggingFace BertModel(bert-base-uncased).num_parameters(), pooler included; Devlin et al. 2019
    "bert-base": 109_482_240,
    # HuggingFace GPT2Model num_parameters() for gpt2, gpt2-medium, gpt2-large, gpt2-xl; gpt2 small is
    # wte 50257*768 + wpe 1024*768 + 12 * (2 LayerNorms 4*768 + c_attn 768*2304 + 2304
    # + c_proj 768*768 + 768 + c_fc 768*3072 + 3072 + c_proj 3072*768 + 768) + ln_f 2*768
    "gpt2": 124_439_808,
    "gpt2-medium": 354_823_168,
    "gpt2-large": 774_030_080,
    "gpt2-xl": 1_557_611_200,
    # HuggingFace LlamaForCausalLM num_parameters() for Llama-2-7b/13b/70b (Touvron et al. 2023).
    # 70b: embed + head 2*32000*8192 + 80 * (q, o 2*8192^2 + k, v 2*8192*1024 + MLP 3*8192*28672
    # + 2 RMSNorms 2*8192) + final RMSNorm 8192
    "decoder-7b": 6_738_415_616,
    "decoder-13b": 13_015_864_320,
    "decoder-70b": 68_976_648_192,
}


def num_parameters(module: nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())


def train_step(instance) -> torch.Tensor:
    loss = instance.loss(instance.module(*instance.inputs))
    loss.backward()
    return loss


def write_factory(tmp_path, body: str, name: str = "factories.py") -> str:
    path = tmp_path / name
    path.write_text("import torch\nfrom torch import nn\n\n" + textwrap.dedent(body))
    return str(path)


def test_the_zoo_lists_exactly_the_models_with_published_counts():
    assert [info.name for info in list_models()] == list(EXPECTED_PARAMETERS)


#: Decoder presets that repeat gpt2's or decoder-7b's block more times: their training step runs with the
#: preset's exact widths, heads and kv heads but 2 blocks, since on meta each op costs ~0.2 ms of Python
#: dispatch and their 228 blocks would add ~7 s to this file on a 2-core CPU.
DEEP_PRESETS = ("gpt2-medium", "gpt2-large", "gpt2-xl", "decoder-13b", "decoder-70b")


@pytest.mark.parametrize("name", EXPECTED_PARAMETERS)
def test_zoo_model_has_the_reference_parameter_count(name):
    module = build_model(name, 1, sequence_length=1 if model_info(name).sequence_length else None).module
    assert num_parameters(module) == EXPECTED_PARAMETERS[name]


@pytest.mark.parametrize("name", EXPECTED_PARAMETERS)
def test_zoo_model_runs_a_training_step_on_meta(name):
    info = model_info(name)
    batch_size = info.benchmark_batch_sizes[0] if info.benchmark_batch_sizes else 1
    built = f"decoder:like={name},depth=2" if name in DEEP_PRESETS else name
    instance = build_model(built, batch_size, sequence_length=16 if info.sequence_length else None)
    assert all(tensor.shape[0] == batch_size for tensor in instance.inputs)
    loss = train_step(instance)
    assert loss.shape == () and loss.is_meta
    weights = [p for p in instance.module.parameters() if p.dim() == 2]
    assert weights[0].grad is not None and weights[0].grad.shape == weights[0].shape


def test_bert_without_pooler_matches_huggingface_count_without_pooler():
    # The pooler is one 768x768 dense layer with bias: 768*768 + 768 = 590,592.
    module = build_model("bert-base", 1).module
    assert num_parameters(module) - num_parameters(module.pooler) == 108_891_648


@pytest.mark.parametrize(
    ("name", "sequence_length"),
    [("mlp", None), ("cifar-cnn", None), ("resnet18", None), ("lstm-lm", None), ("gpt2", 16)],
)
def test_representative_models_train_on_cpu_with_finite_loss(name, sequence_length):
    torch.manual_seed(0)
    instance = build_model(name, 1, device="cpu", sequence_length=sequence_length)
    loss = train_step(instance)
    assert math.isfinite(loss.item()) and loss.item() > 0
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in instance.module.parameters())


def test_decoder_70b_builds_on_meta_with_grouped_query_attention():
    module = build_model("decoder-70b").module
    assert num_parameters(module) == 68_976_648_192
    assert all(parameter.is_meta for parameter in module.parameters())
    # 64 query heads of 128 plus 8 key and 8 value heads: 8192 + 2*1024 rows.
    assert module.blocks[0].qkv.weight.shape == (8192 + 2 * 1024, 8192)


def test_every_model_info_is_complete():
    for info in list_models():
        sizes = info.benchmark_batch_sizes
        # The large decoder presets are for analysis only; every other model sweeps three batch sizes.
        # So are NVIDIA's published ImageNet convnets (seconds per step on a 2-core CPU).
        analysis_only = ("gpt2-medium", "gpt2-large", "gpt2-xl", "resnext101-32x4d", "se-resnext101-32x4d")
        if info.name.startswith(("decoder-", "efficientnet-")) or info.name in analysis_only:
            assert sizes == (), info.name
        else:
            assert len(sizes) == 3 and list(sizes) == sorted(set(sizes)), info.name
        assert info.optimizer in OPTIMIZERS and info.family in ("mlp", "cnn", "rnn", "transformer")
        assert info.description and info.source and info.default_batch_size >= 1
        is_sequence_model = info.family == "rnn" or (info.family == "transformer" and info.name != "vit-b16")
        assert (info.sequence_length is not None) == is_sequence_model, info.name


def test_list_models_filters_with_shell_patterns_ignoring_case():
    assert [info.name for info in list_models("resnet*")] == ["resnet18", "resnet50"]
    assert [info.name for info in list_models("GPT2-*")] == ["gpt2-medium", "gpt2-large", "gpt2-xl"]
    assert [info.name for info in list_models("decoder-?b")] == ["decoder-7b"]
    assert list_models("nothing*") == []


def test_model_info_gives_defaults_without_building():
    assert model_info("bert-base").sequence_length == 128
    assert model_info("gpt2").sequence_length == 1024
    assert model_info("ResNet50").optimizer == "sgd-momentum"
    assert model_info("gpt2").optimizer == "adamw"


def test_custom_decoder_syntax_sets_width_depth_heads_and_sequence_length():
    instance = build_model("decoder:width=256,depth=2,heads=4,seq=32", 2)
    # GPT-2 layout at width 256: wte 50257*256 + wpe 1024*256 + 2 blocks * (LayerNorms 4*256
    # + qkv 256*768 + 768 + out 256*256 + 256 + MLP 256*1024 + 1024 + 1024*256 + 256) + ln_f 2*256
    w = 256
    block = 4 * w + (w * 3 * w + 3 * w) + (w * w + w) + (w * 4 * w + 4 * w) + (4 * w * w + w)
    assert num_parameters(instance.module) == 50_257 * w + 1024 * w + 2 * block + 2 * w
    assert instance.sequence_length == 32 and instance.inputs[0].shape == (2, 32)
    assert model_info("decoder:width=256,depth=2,heads=4").sequence_length == 1024


def test_custom_decoder_can_start_from_a_llama_preset():
    instance = build_model(
        "decoder:like=decoder-7b,width=512,depth=2,heads=8,kv_heads=2", 1, sequence_length=16
    )
    # Untied, bias-free, RMSNorm: embed + head 2*32000*512 + 2 * (q, o 2*512^2 + k, v 2*512*128
    # + SwiGLU 3*512*1536 + 2*512) + 512; Llama's FFN rule: ceil(8*512/3 / 256) * 256 = 1536.
    block = 2 * 512**2 + 2 * 512 * 128 + 3 * 512 * 1536 + 2 * 512
    assert num_parameters(instance.module) == 2 * 32_000 * 512 + 2 * block + 512
    # The same layout, small enough to train on CPU: RoPE, SwiGLU, RMSNorm and GQA run for real.
    tiny = "decoder:like=decoder-7b,width=64,depth=1,heads=4,kv_heads=2,vocab_size=256"
    assert math.isfinite(train_step(build_model(tiny, 2, device="cpu", sequence_length=8)).item())


def test_build_decoder_takes_a_config():
    config = dataclasses.replace(DecoderConfig(), width=128, depth=1, heads=2, mlp="swiglu", norm="rmsnorm")
    instance = build_decoder(config, 2, sequence_length=8)
    assert instance.inputs[0].shape == (2, 8) and train_step(instance).is_meta


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("decoder:width=100,heads=12", "width 100 is not a multiple of heads 12"),
        ("decoder:depth=two", "depth='two' is not a valid int"),
        ("decoder:colour=red", "unknown decoder option 'colour'"),
        ("decoder:like=gpt5", "unknown decoder preset 'gpt5'"),
        ("decoder:norm=batchnorm", "norm must be one of layernorm, rmsnorm"),
    ],
)
def test_invalid_custom_decoder_is_a_usage_error(name, message):
    with pytest.raises(UsageError, match=message):
        model_info(name)


def test_bad_batch_or_sequence_length_is_a_usage_error():
    with pytest.raises(UsageError, match="takes sequences of 1 to 1024 tokens, not 2048"):
        build_model("gpt2", 1, sequence_length=2048)
    with pytest.raises(UsageError, match="resnet50 takes no sequence length"):
        build_model("resnet50", 1, sequence_length=16)
    with pytest.raises(UsageError, match="batch size must be at least 1"):
        build_model("mlp", 0)


def test_unknown_zoo_name_suggests_close_matches():
    with pytest.raises(UsageError) as raised:
        build_model("resnet51")
    assert str(raised.value).startswith(
        "unknown model 'resnet51'. Did you mean: resnet50, resnet18? See 'devicefit models'"
    )


def test_example_factory_builds_on_meta_and_trains_on_cpu():
    name = "examples/my_model.py:make_model"
    instance = build_model(name, 16)
    assert instance.info.family == "user" and instance.info.default_batch_size == 32
    assert instance.inputs[0].shape == (16, 3, 32, 32) and instance.inputs[0].is_meta
    assert all(parameter.is_meta for parameter in instance.module.parameters())
    assert math.isfinite(train_step(build_model(name, 4, device="cpu")).item())


def test_factory_returning_two_items_gets_the_mean_square_loss(tmp_path):
    path = write_factory(
        tmp_path,
        '''
        def make(batch_size):
            """A linear layer."""
            return nn.Linear(4, 3), torch.randn(batch_size, 4)
        ''',
    )
    instance = build_model(f"{path}:make", 5, device="cpu")
    assert instance.info.description == "A linear layer." and instance.info.default_batch_size == 16
    output = instance.module(*instance.inputs)
    assert torch.allclose(instance.loss(output), output.square().mean())


def test_tensors_a_factory_puts_on_cpu_move_to_the_requested_device(tmp_path):
    path = write_factory(
        tmp_path,
        "def make(batch_size):\n"
        "    return nn.Linear(4, 3, device='cpu'), torch.randn(batch_size, 4, device='cpu')\n",
    )
    instance = build_model(f"{path}:make", 2, device="meta")
    assert instance.module.weight.is_meta and instance.inputs[0].is_meta


def test_module_factory_is_imported_by_dotted_name(tmp_path, monkeypatch):
    write_factory(
        tmp_path,
        "def make(batch_size=3):\n    return nn.Linear(2, 2), (torch.randn(batch_size, 2),)\n",
        name="devicefit_test_dotted_factory.py",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    instance = build_model("devicefit_test_dotted_factory:make")
    assert instance.batch_size == 3 and instance.inputs[0].is_meta


def test_mean_square_loss_walks_nested_outputs_and_skips_integers():
    @dataclasses.dataclass
    class Output:
        hidden: torch.Tensor
        ids: torch.Tensor

    # Squares: (1 + 4) from the tuple, 9 from the dataclass; integer ids are skipped; 3 elements.
    output = {
        "pair": (torch.tensor([1.0]), torch.tensor([2.0])),
        "rest": Output(torch.tensor([3.0]), torch.tensor([7])),
    }
    assert mean_square_loss(output).item() == pytest.approx((1 + 4 + 9) / 3)
    with pytest.raises(UsageError, match="no floating-point tensor"):
        mean_square_loss((torch.tensor([1]),))


def test_missing_file_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match=r"model file .*nope\.py not found"):
        build_model(f"{tmp_path}/nope.py:make")


def test_missing_attribute_is_a_usage_error(tmp_path):
    path = write_factory(tmp_path, "def make(batch_size):\n    return None\n")
    with pytest.raises(
        UsageError, match=r"factories\.py has no attribute 'build'\. Define build\(batch_size\)"
    ):
        build_model(f"{path}:build")


def test_raising_factory_is_named_with_its_exception(tmp_path):
    path = write_factory(tmp_path, "def make(batch_size):\n    raise ValueError('bad width')\n")
    with pytest.raises(UsageError) as raised:
        build_model(f"{path}:make")
    assert str(raised.value).startswith(f"model factory {path}:make raised ValueError: bad width")


def test_factory_returning_the_wrong_shape_states_the_protocol(tmp_path):
    path = write_factory(
        tmp_path,
        "def module_only(batch_size):\n    return nn.Linear(2, 2)\n\n"
        "def list_inputs(batch_size):\n    return nn.Linear(2, 2), [1, 2]\n",
    )
    with pytest.raises(UsageError, match=r"returned Linear\. A factory .* returns \(module, inputs\)"):
        build_model(f"{path}:module_only")
    with pytest.raises(UsageError, match="returned inputs that are not tensors"):
        build_model(f"{path}:list_inputs")


@pytest.mark.skipif(importlib.util.find_spec("torchvision") is not None, reason="torchvision is installed")
def test_library_model_without_the_library_names_the_package_to_install():
    with pytest.raises(UsageError, match=r"torchvision is not installed.*pip install torchvision"):
        build_model("torchvision:resnet18")

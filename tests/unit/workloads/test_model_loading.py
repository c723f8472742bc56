"""Loading models: initializers on tensors without data, keyword inputs, factories, library models."""

import importlib.metadata
import json
import math
import textwrap
from types import SimpleNamespace

import pytest
import torch
from typer.testing import CliRunner

from devicefit.analyze.cost import analyze_model
from devicefit.cli import app
from devicefit.errors import UsageError
from devicefit.measure.steps import ModelStep
from devicefit.workloads import build_model, libraries, model_info

#: Each initializer a constructor may call, applied to a Linear(16, 16) weight (``w``) or, for
#: ``dirac_``, a Conv1d(16, 16, 3) weight (``k``); ``imported`` was bound before devicefit built anything.
INITIALIZERS = {
    "uniform_": "nn.init.uniform_(w, -0.1, 0.1)",
    "normal_": "nn.init.normal_(w, std=0.02)",
    "trunc_normal_": "nn.init.trunc_normal_(w, std=0.02)",
    "trunc_normal_narrow": "nn.init.trunc_normal_(w, std=1.0, a=-0.5, b=0.5)",
    "trunc_normal_imported": "imported_trunc_normal_(w, std=0.02)",
    "trunc_normal_transformers": "self.linear.weight.data = nn.init.trunc_normal_("
    "w.data.to(torch.float32), std=0.02).to(w.dtype)",
    "constant_": "nn.init.constant_(w, 0.5)",
    "ones_": "nn.init.ones_(w)",
    "zeros_": "nn.init.zeros_(w)",
    "eye_": "nn.init.eye_(w)",
    "dirac_": "nn.init.dirac_(k)",
    "xavier_uniform_": "nn.init.xavier_uniform_(w)",
    "xavier_normal_": "nn.init.xavier_normal_(w)",
    "kaiming_uniform_": "nn.init.kaiming_uniform_(w, a=math.sqrt(5))",
    "kaiming_normal_": "nn.init.kaiming_normal_(w, nonlinearity='relu')",
    "orthogonal_": "nn.init.orthogonal_(w)",
    "sparse_": "nn.init.sparse_(w, sparsity=0.5)",
    "tensor.normal_": "w.data.normal_(0.0, 0.02)",
    "tensor.uniform_": "w.data.uniform_(-0.1, 0.1)",
    "tensor.fill_": "w.data.fill_(0.01)",
    # timm's trunc_normal_: inverse CDF of a uniform draw, then clamped.
    "tensor.erfinv_.clamp_": "w.data.uniform_(-0.9, 0.9).erfinv_().mul_(0.03).clamp_(-0.04, 0.04)",
    "no_grad.copy_": "w.copy_(torch.randn(16, 16) * 0.02)",
}

#: Linear(16, 16) and Conv1d(16, 16, 3): (16 * 16 + 16) + (16 * 16 * 3 + 16) parameters.
NUM_PARAMETERS = 16 * 16 + 16 + 16 * 16 * 3 + 16


def write_initialized_models(tmp_path) -> str:
    """A file with ``make_N(batch_size)`` for each initializer N, in order, and ``make_all``."""
    calls = list(INITIALIZERS.values())
    factories = "".join(
        f"def make_{index}(batch_size):\n    return Net([{call!r}]), torch.randn(batch_size, 16, 8)\n\n"
        for index, call in enumerate(calls)
    )
    source = f"""
        import math

        import torch
        from torch import nn
        from torch.nn.init import trunc_normal_ as imported_trunc_normal_


        class Net(nn.Module):
            def __init__(self, calls):
                super().__init__()
                self.conv = nn.Conv1d(16, 16, 3, padding=1)
                self.linear = nn.Linear(16, 16)
                w, k = self.linear.weight, self.conv.weight
                for call in calls:
                    # As timm and transformers do, under no_grad: these are leaf parameters.
                    with torch.no_grad():
                        exec(call)

            def forward(self, x):
                return self.linear(self.conv(x).transpose(1, 2))


        def make_all(batch_size):
            return Net({calls!r}), torch.randn(batch_size, 16, 8)

    """
    path = tmp_path / "initialized.py"
    path.write_text(textwrap.dedent(source) + factories)
    return str(path)


@pytest.fixture(scope="module")
def initialized(tmp_path_factory) -> str:
    return write_initialized_models(tmp_path_factory.mktemp("models"))


@pytest.mark.parametrize("index", range(len(INITIALIZERS)), ids=list(INITIALIZERS))
def test_every_initializer_in_a_constructor_profiles_on_fake_tensors(initialized, index):
    cost = analyze_model(f"{initialized}:make_{index}", 4)
    assert cost.warnings == () and cost.num_parameters == NUM_PARAMETERS
    # Conv1d: 2 * 4 samples * 8 positions * 16 out * 16 in * 3 taps; Linear: 2 * 4 * 8 * 16 * 16.
    assert cost.forward_flops >= 2 * 4 * 8 * 16 * 16 * 3 + 2 * 4 * 8 * 16 * 16


def test_a_model_calling_every_initializer_predicts(initialized, tmp_path):
    args = ["predict", f"{initialized}:make_all", "--device", "h100-sxm", "--batch", "8", "--json"]
    result = CliRunner().invoke(app, [*args, "--db", str(tmp_path / "p.db")])
    assert result.exit_code == 0, result.output
    (prediction,) = json.loads(result.stdout)["predictions"]
    assert prediction["step_time_s"] > 0 and prediction["fits"] is True


def test_real_tensors_are_still_initialized_and_torch_init_is_restored(initialized):
    original = torch.nn.init.trunc_normal_
    index = list(INITIALIZERS).index("trunc_normal_narrow")
    instance = build_model(f"{initialized}:make_{index}", 2, device="cpu")
    weight = instance.module.linear.weight
    # Truncated to [-0.5, 0.5], and drawn: not Linear's default bound 1/sqrt(16) = 0.25 everywhere.
    assert weight.abs().max() <= 0.5 and weight.abs().max() > 0.25
    assert torch.nn.init.trunc_normal_ is original


def test_a_constructor_reading_values_falls_back_to_a_real_build(tmp_path):
    path = tmp_path / "reads.py"
    path.write_text(
        "import torch\nfrom torch import nn\n\n"
        "class Scaled(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.linear = nn.Linear(8, 8)\n"
        "        self.scale = float(self.linear.weight.abs().max().item())\n"
        "    def forward(self, x):\n"
        "        return self.linear(x) * self.scale\n\n"
        "def make(batch_size):\n"
        "    return Scaled(), torch.randn(batch_size, 8)\n"
    )
    cost = analyze_model(f"{path}:make", 4)
    assert cost.num_parameters == 8 * 8 + 8
    assert any("fails on fake tensors" in warning for warning in cost.warnings)


def write_keyword_model(tmp_path) -> str:
    path = tmp_path / "keywords.py"
    path.write_text(
        textwrap.dedent(
            """
            import torch
            from torch import nn

            class EncoderDecoder(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.encoder = nn.Linear(8, 8)
                    self.decoder = nn.Linear(8, 8)

                def forward(self, input_ids=None, decoder_inputs=None, use_cache=True):
                    assert input_ids is not None and decoder_inputs is not None and use_cache is False
                    return self.decoder(decoder_inputs + self.encoder(input_ids).mean(1, keepdim=True))

            def make(batch_size=4):
                inputs = {"input_ids": torch.randn(batch_size, 5, 8),
                          "decoder_inputs": torch.randn(batch_size, 3, 8), "use_cache": False}
                return EncoderDecoder(), inputs
            """
        )
    )
    return str(path)


def test_factory_may_return_keyword_inputs(tmp_path):
    name = f"{write_keyword_model(tmp_path)}:make"
    cost = analyze_model(name, 2)
    # Encoder 2 * 2 samples * 5 tokens * 8 * 8, decoder 2 * 2 * 3 * 8 * 8.
    assert cost.warnings == () and cost.forward_flops >= 2 * 2 * 5 * 64 + 2 * 2 * 3 * 64
    assert cost.input_bytes == 4 * (2 * 5 * 8 + 2 * 3 * 8)
    instance = build_model(name, 2, device="cpu")
    assert instance.inputs == () and instance.keyword_inputs["use_cache"] is False
    for transfer in (False, True):
        step = ModelStep(
            build_model(name, 2, device="cpu"),
            train=True,
            precision="fp32",
            device_kind="cpu",
            transfer=transfer,
        )
        step()
    assert all(
        parameter.grad is None or math.isfinite(parameter.grad.sum())
        for parameter in step.module.parameters()
    )


def test_keyword_inputs_need_names_and_a_tensor(tmp_path):
    path = tmp_path / "bad.py"
    path.write_text(
        "import torch\nfrom torch import nn\n\n"
        "def numbered(batch_size):\n    return nn.Linear(2, 2), {0: torch.randn(batch_size, 2)}\n\n"
        "def flags(batch_size):\n    return nn.Linear(2, 2), {'use_cache': False}\n"
    )
    with pytest.raises(UsageError, match="returned a dict of inputs without names"):
        build_model(f"{path}:numbered")
    with pytest.raises(UsageError, match="returned keyword inputs without a tensor"):
        build_model(f"{path}:flags")


def test_factory_without_a_batch_size_parameter_is_named(tmp_path):
    path = tmp_path / "batches.py"
    path.write_text(
        "import torch\nfrom torch import nn\n\n"
        "def fixed():\n    return nn.Linear(2, 2), torch.randn(4, 2)\n\n"
        "def keyword(*, batch_size=3):\n    return nn.Linear(2, 2), torch.randn(batch_size, 2)\n"
    )
    with pytest.raises(UsageError) as raised:
        model_info(f"{path}:fixed")
    assert str(raised.value) == (
        f"model factory {path}:fixed takes no batch_size parameter. "
        "Define it as fixed(batch_size) and make inputs of batch_size samples"
    )
    instance = build_model(f"{path}:keyword")
    assert instance.batch_size == 3 and instance.inputs[0].shape == (3, 2)


def test_torchvision_release_follows_torch():
    # torchvision's compatibility table: torch 2.0 -> 0.15, 2.13 -> 0.28 (whose wheel pins torch==2.13.0).
    assert libraries.torchvision_release("2.0.1") == "0.15"
    assert libraries.torchvision_release("2.13.0+cpu") == "0.28"


def test_install_lines_keep_torch_and_its_build(monkeypatch):
    monkeypatch.setattr(libraries.torch, "__version__", "2.13.0+cpu")
    vision = "pip install torchvision~=0.28.0 torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
    assert libraries.install_line("torchvision") == vision
    assert (
        libraries.install_line("timm") == f"{vision}, then pip install timm torch==2.13.0 torchvision~=0.28.0"
    )
    assert libraries.install_line("transformers") == "pip install transformers torch==2.13.0"
    # PyPI's own torch (a CUDA build on Linux) and PyPI's torchvision go together.
    monkeypatch.setattr(libraries.torch, "__version__", "2.13.0")
    assert libraries.install_line("timm") == "pip install torchvision~=0.28.0 torch==2.13.0 timm"


def fake_torchvision(monkeypatch, version: str, requires: list[str]) -> None:
    """An installed torchvision ``version`` whose import fails as a build for another torch does."""
    monkeypatch.setattr(libraries.torch, "__version__", "2.13.0+cpu")
    monkeypatch.setattr(libraries, "find_spec", lambda name: object())
    stub = SimpleNamespace(
        version=lambda name: version,
        requires=lambda name: requires,
        PackageNotFoundError=importlib.metadata.PackageNotFoundError,
    )
    monkeypatch.setattr(libraries, "metadata", stub)

    def broken_import(name):
        raise RuntimeError("operator torchvision::nms does not exist")

    monkeypatch.setattr(libraries, "import_module", broken_import)


def test_torchvision_built_for_another_torch_is_one_line_with_the_fix(monkeypatch):
    fake_torchvision(monkeypatch, "0.28.0", ["torch (==2.13.0)", "numpy"])
    with pytest.raises(UsageError) as raised:
        model_info("timm:convnext_tiny")
    line = str(raised.value)
    assert "\n" not in line
    assert line.startswith(
        "torchvision 0.28.0 is PyPI's CUDA build but torch is 2.13.0+cpu: "
        "RuntimeError: operator torchvision::nms does not exist. Install the matching build: "
        "pip install torchvision~=0.28.0 torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
    )
    fake_torchvision(monkeypatch, "0.29.0", ["torch==2.14.0"])
    with pytest.raises(
        UsageError, match=r"^torchvision 0\.29\.0 is built for torch 2\.14\.0, not the installed"
    ):
        model_info("torchvision:resnet18")


def test_missing_library_names_the_install_line_that_keeps_torch(monkeypatch):
    monkeypatch.setattr(libraries, "find_spec", lambda name: None)
    release = torch.__version__.partition("+")[0]
    with pytest.raises(
        UsageError, match=rf"transformers is not installed.*pip install transformers torch=={release}"
    ):
        model_info("transformers:bert")


# transformers builds: an image encoder, an encoder-decoder and Whisper, from their default configs.
def test_transformers_vit_profiles_on_fake_tensors():
    pytest.importorskip("transformers")
    cost = analyze_model("transformers:vit", 1)
    assert cost.warnings == () and model_info("transformers:vit").synthesized_inputs == ("pixel_values",)
    # ViT-B/16 at 224x224: 17.56 GMAC (torchvision ViT_B_16_Weights "GFLOPS"), whose classifier head
    # (768 x 1000) transformers' base model replaces by a 768 x 768 pooler: within 0.5%.
    assert cost.forward_flops / 2 == pytest.approx(17.56e9, rel=5e-3)


def test_transformers_encoder_decoders_get_decoder_inputs():
    pytest.importorskip("transformers")
    t5 = build_model("transformers:t5", 2, device="meta", sequence_length=16)
    assert {name: tuple(t.shape) for name, t in t5.keyword_inputs.items()} == {
        "input_ids": (2, 16),
        "decoder_input_ids": (2, 16),
    }
    whisper = build_model("transformers:whisper", 1, device="meta", sequence_length=8)
    # Whisper's default config: 80 mel bins, 2 x 1500 source positions.
    assert tuple(whisper.keyword_inputs["input_features"].shape) == (1, 80, 3000)
    assert tuple(whisper.keyword_inputs["decoder_input_ids"].shape) == (1, 8)
    for name in ("transformers:t5", "transformers:whisper"):
        assert analyze_model(name, 1, sequence_length=8).warnings == ()


def test_transformers_model_devicefit_cannot_feed_is_named():
    pytest.importorskip("transformers")
    with pytest.raises(
        UsageError, match="cannot make inputs for transformers:wav2vec2: its forward takes input_values"
    ):
        model_info("transformers:wav2vec2")
    with pytest.raises(UsageError, match="transformers has no model type 'nope'"):
        model_info("transformers:nope")


def test_inputs_a_transformers_model_rejects_are_blamed_on_devicefit(monkeypatch):
    pytest.importorskip("transformers")
    original = libraries._feeds
    monkeypatch.setattr(
        libraries, "_feeds", lambda *args: [f for f in original(*args) if f.name != "decoder_input_ids"]
    )
    with pytest.raises(UsageError) as raised:
        analyze_model("transformers:t5", 1, sequence_length=8)
    assert str(raised.value).startswith(
        "transformers:t5 rejects the inputs devicefit makes for it (input_ids): "
    )
    assert "examples/my_model.py" in str(raised.value)

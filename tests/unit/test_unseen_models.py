"""benchmarks/unseen_models.py: the random models are reproducible, cover every family, and summarize."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

from devicefit.workloads.user import find_user_model

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "unseen_models.py"


@pytest.fixture(scope="module")
def unseen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("unseen_models", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["unseen_models"] = module
    spec.loader.exec_module(module)
    return module


def test_generator_is_deterministic_per_seed_and_differs_between_seeds(unseen: ModuleType) -> None:
    assert unseen.generate(7, 20) == unseen.generate(7, 20)
    assert unseen.generate(7, 20) != unseen.generate(8, 20)


def test_generator_covers_every_family_and_their_variants(unseen: ModuleType) -> None:
    specs = unseen.generate(3, 60)
    assert len(specs) == 60
    assert {s["family"] for s in specs} == set(unseen.FAMILIES)
    assert {s["cell"] for s in specs if s["family"] == "rnn"} == {"lstm", "gru"}
    assert {s["style"] for s in specs if s["family"] == "transformer"} == {"torch", "handwritten"}
    convnets = [s for s in specs if s["family"] == "convnet"]
    assert {s["batch_norm"] for s in convnets} == {True, False}
    assert {layer["stride"] for s in convnets for layer in s["layers"]} == {1, 2}
    assert all(1 <= s["batch_size"] <= unseen.MAX_BATCH for s in specs)
    assert len({s["name"] for s in specs}) == 60


def test_each_generated_factory_builds_through_the_user_model_loader(
    unseen: ModuleType, tmp_path: Path
) -> None:
    specs = unseen.generate(5, 8)
    path = tmp_path / "factories.py"
    unseen.write_factories(specs, path)
    for spec in specs:
        info, factory = find_user_model(f"{path}:{spec['name']}")
        assert info.default_batch_size == spec["batch_size"]
        module, inputs, _ = factory(2, None, "meta")
        with torch.no_grad():
            output = module(*inputs)
        assert output.shape[0] == 2


def test_summary_has_the_contract_keys_and_groups(unseen: ModuleType) -> None:
    rows = [
        {"model": "a", "family": "mlp", "mode": "train", "threads": 1, "error": 0.1},
        {"model": "a", "family": "mlp", "mode": "infer", "threads": 2, "error": -0.3},
        {"model": "b", "family": "rnn", "mode": "train", "threads": 1, "error": 0.2},
        {"model": "b", "family": "rnn", "mode": "infer", "threads": 2, "error": None},
    ]
    summary = unseen.summarize(rows)
    assert summary["models"] == 2
    assert summary["steps"] == 3
    assert summary["median_abs_error"] == pytest.approx(0.2)
    assert summary["p90_abs_error"] == pytest.approx(0.3)
    assert set(summary["by"]) == {"family", "mode", "threads"}
    assert summary["by"]["family"]["rnn"] == {"n": 1, "median_abs_error": 0.2, "p90_abs_error": 0.2}
    assert set(summary["by"]["threads"]) == {"1", "2"}
    assert summary["by"]["mode"]["infer"]["n"] == 1

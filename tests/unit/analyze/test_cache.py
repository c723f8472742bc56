"""The disk cache of model analyses: hits equal fresh analyses, keys see every input, bad entries rebuild."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from devicefit.analyze import cache, cost
from devicefit.analyze.cache import analysis_key, analyze_model_cached, load_anchors, load_cost, store_cost
from devicefit.cli import app

ARGUMENTS = {
    "precision": "fp32",
    "optimizer": None,
    "sequence_length": None,
    "memory_kind": "cuda",
    "foreach": None,
}

USER_MODEL = """
import torch
from torch import nn

def make(batch_size=4):
    return nn.Linear(8, {width}), torch.randn(batch_size, 8)
"""


def key(name="mlp", batch_size=2, **changes):
    return analysis_key(name, batch_size, **{**ARGUMENTS, **changes})


def refuse_to_trace(monkeypatch):
    """From here on, a call that misses the cache fails."""

    def fail(*args, **kwargs):
        raise AssertionError("traced although the analysis is cached")

    monkeypatch.setattr(cost, "analyze_model_derivable", fail)


def count_traces(monkeypatch):
    calls = []
    real = cost.analyze_model_derivable

    def counted(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(cost, "analyze_model_derivable", counted)
    return calls


def test_a_hit_returns_the_record_a_fresh_analysis_returns(monkeypatch, _isolated_cache):
    fresh = cost.analyze_model("mlp", 2, memory_kind="cpu")
    first, note = analyze_model_cached("mlp", 2, memory_kind="cpu")
    assert note is None and first == fresh
    assert len(list(_isolated_cache.glob("mlp-*.json"))) == 1
    refuse_to_trace(monkeypatch)
    hit, _ = analyze_model_cached("mlp", 2, memory_kind="cpu")
    assert hit == fresh
    assert isinstance(hit.ops, tuple) and isinstance(hit.ops[0].shape, tuple)


def test_the_key_changes_with_every_input_of_the_analysis():
    base = key()
    assert key() == base
    for changed in (
        key(batch_size=4),
        key(batch_size=None),
        key(precision="bf16"),
        key(optimizer="adam"),
        key(sequence_length=16),
        key(memory_kind="cpu"),
        key(foreach=False),
        key("resnet18"),
    ):
        assert changed != base
    assert {"devicefit", "devicefit_source", "torch"} <= set(base)


def test_the_key_changes_when_a_user_model_file_changes(tmp_path):
    path = tmp_path / "net.py"
    path.write_text(USER_MODEL.format(width=4))
    before = key(f"{path}:make")
    path.write_text(USER_MODEL.format(width=5))
    assert key(f"{path}:make") != before
    assert key(f"{tmp_path / 'missing.py'}:make") is None  # nothing to pin down: not cached


def test_an_edited_user_model_is_traced_again(tmp_path):
    path = tmp_path / "net.py"
    path.write_text(USER_MODEL.format(width=4))
    narrow, _ = analyze_model_cached(f"{path}:make")
    path.write_text(USER_MODEL.format(width=5))
    wide, _ = analyze_model_cached(f"{path}:make")
    assert (narrow.num_parameters, wide.num_parameters) == (8 * 4 + 4, 8 * 5 + 5)


def _not_a_model_cost(path):
    entry = json.loads(path.read_text())
    broken = {name: {"model": "mlp"} for name in ("cost", "low", "high") if name in entry}
    path.write_text(json.dumps({**entry, **broken}))


@pytest.mark.parametrize(
    "damage",
    [
        lambda path: path.write_bytes(b"\x00garbage"),
        lambda path: path.write_text(path.read_text()[: len(path.read_text()) // 2]),
        lambda path: path.write_text(json.dumps({**json.loads(path.read_text()), "format": -1})),
        _not_a_model_cost,
    ],
    ids=["not-json", "truncated", "other-format", "not-a-model-cost"],
)
@pytest.mark.parametrize("batch", [1, 2])
def test_a_damaged_entry_is_ignored_and_rebuilt(damage, batch, monkeypatch, _isolated_cache):
    fresh, _ = analyze_model_cached("mlp", batch)
    for path in _isolated_cache.glob("*.json"):
        damage(path)
    assert load_cost(key(batch_size=batch), _isolated_cache) is None
    assert load_anchors(key(batch_size=batch), _isolated_cache) is None
    calls = count_traces(monkeypatch)
    rebuilt, _ = analyze_model_cached("mlp", batch)
    assert rebuilt == fresh and len(calls) == 1
    anchors = load_anchors(key(batch_size=batch), _isolated_cache)
    assert anchors is not None and anchors[0].batch_size == batch
    assert (load_cost(key(batch_size=batch), _isolated_cache) or anchors[0]) == fresh


def test_an_entry_of_another_key_is_a_miss(tmp_path):
    fresh = cost.analyze_model("mlp", 2)
    path = store_cost(key(), fresh, tmp_path)
    other = key(batch_size=3)
    path.rename(cache._entry_path(other, tmp_path))  # same file name, but the key inside disagrees
    assert load_cost(other, tmp_path) is None


def test_writes_leave_no_partial_files(_isolated_cache):
    analyze_model_cached("mlp", 2)
    analyze_model_cached("mlp", 2, precision="bf16")
    assert sorted(p.name.split("-")[0] for p in _isolated_cache.iterdir()) == ["mlp", "mlp"]


def test_an_unwritable_cache_still_analyzes_and_says_so(tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    result, note = analyze_model_cached("mlp", 2, directory=blocked / "cache")
    assert result == cost.analyze_model("mlp", 2)
    assert note and "could not write the analysis cache" in note and "DEVICEFIT_CACHE_DIR" in note


# --- the command line -------------------------------------------------------------------------

runner = CliRunner()


def predict_json(*args):
    result = runner.invoke(app, ["predict", "mlp", "--device", "h100-sxm", "--batch", "2", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_predict_reuses_the_analysis_for_both_modes(monkeypatch):
    fresh_train = predict_json("--no-cache")
    fresh_infer = predict_json("--no-cache", "--infer")
    predict_json()  # fills the cache
    refuse_to_trace(monkeypatch)
    assert predict_json() == fresh_train
    assert predict_json("--infer") == fresh_infer


def test_no_cache_neither_reads_nor_writes(monkeypatch, _isolated_cache):
    predict_json()
    entries = sorted(_isolated_cache.iterdir())
    calls = count_traces(monkeypatch)
    predict_json("--no-cache")
    assert len(calls) == 1
    assert sorted(_isolated_cache.iterdir()) == entries
    result = runner.invoke(app, ["profile", "mlp", "--batch", "2", "--no-cache", "--json"])
    assert result.exit_code == 0, result.output
    assert len(calls) == 2 and sorted(_isolated_cache.iterdir()) == entries


def test_profile_shares_the_cache_with_predict(monkeypatch):
    predict_json()
    refuse_to_trace(monkeypatch)
    result = runner.invoke(app, ["profile", "mlp", "--batch", "2", "--memory", "1GiB", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["max_batch_size"]["batch_size"] > 2


def test_a_cached_predict_for_a_catalog_device_does_not_import_torch(_isolated_cache):
    analyze_model_cached("mlp", 2)
    code = (
        "import sys; from devicefit.cli import app\n"
        "try:\n"
        "    app(['predict', 'mlp', '--device', 'h100-sxm', '--batch', '2'])\n"
        "except SystemExit as done:\n"
        "    assert done.code == 0, done.code\n"
        "print('torch' in sys.modules, file=sys.stderr)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**_environment(), "DEVICEFIT_CACHE_DIR": str(_isolated_cache.parent)},
    )
    assert "H100" in result.stdout
    assert result.stderr.strip().splitlines()[-1] == "False"


def _environment():
    source = str(Path(cache.__file__).parents[2])
    return {**os.environ, "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")])}

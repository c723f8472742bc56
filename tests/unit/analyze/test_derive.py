"""A model traced once answers every batch: costs derived from two traced batches equal direct traces."""

from __future__ import annotations

import dataclasses
import json

import pytest
from typer.testing import CliRunner

from devicefit.analyze import cost as cost_model
from devicefit.analyze.cache import analysis_key, analyze_model_cached, load_anchors, load_cost
from devicefit.analyze.cost import analyze_model_derivable
from devicefit.analyze.derive import anchors_align, derive_cost
from devicefit.cli import app

DECODER = "decoder:width=64,depth=2,heads=4,vocab_size=256,seq=16"
QUADRATIC = """
import torch
from torch import nn

class Similarity(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 8)

    def forward(self, x):
        y = self.proj(x)
        return y @ y.T  # batch x batch: FLOPs grow as the batch's square

def make(batch_size=4):
    return Similarity(), torch.randn(batch_size, 8)
"""


def analyze(name, batch, **options):
    return analyze_model_derivable(name, batch, memory_kind="cuda", **options)


def differences(derived, direct, path="cost"):
    """Every field where two records differ, by dotted path."""
    if dataclasses.is_dataclass(derived):
        for field in dataclasses.fields(derived):
            yield from differences(
                getattr(derived, field.name), getattr(direct, field.name), f"{path}.{field.name}"
            )
    elif (
        isinstance(derived, tuple)
        and len(derived) == len(direct)
        and any(map(dataclasses.is_dataclass, derived))
    ):
        for index, (a, b) in enumerate(zip(derived, direct, strict=True)):
            yield from differences(a, b, f"{path}[{index}]")
    elif derived != direct:
        yield path


@pytest.mark.parametrize(
    ("name", "traced", "anchor_batches", "asked"),
    [
        ("mlp", 1, (1, 2), (3, 6)),
        ("cifar-cnn", 2, (2, 4), (3, 5)),
        ("resnet18", 2, (2, 4), (5,)),
        (DECODER, 2, (2, 4), (3, 7)),
        # Batch 1 of an LSTM skips copies of size-1 dimensions: traces at 2 and 3 pair up instead.
        ("lstm-lm", 1, (2, 3), (5,)),
    ],
)
def test_a_derived_cost_equals_a_direct_trace_field_by_field(name, traced, anchor_batches, asked):
    _, anchors = analyze(name, traced)
    assert anchors is not None and tuple(a.batch_size for a in anchors) == anchor_batches
    for batch in asked:
        direct, _ = analyze(name, batch)
        derived = derive_cost(anchors, batch, memory_kind="cuda")
        assert derived.derived_from_batches == anchor_batches
        # The memory model is the same lines over batch, fitted at other batches: only where the
        # allocator rounds a small tensor up to 512 bytes can it differ (checked below).
        exact = [
            path
            for path in differences(dataclasses.replace(derived, derived_from_batches=()), direct)
            if not path.startswith(("cost.memory.", "cost.traced_memory."))
        ]
        assert exact == []
        assert direct.ops[0].shape == derived.ops[0].shape and all(
            isinstance(d, int) for op in derived.ops for d in op.shape
        )
        for field in dataclasses.fields(direct.memory):
            value, expected = getattr(derived.memory, field.name), getattr(direct.memory, field.name)
            if isinstance(expected, str):
                assert value == expected
            else:
                assert value == pytest.approx(expected, rel=0.01, abs=4096), field.name


def test_a_derived_cost_is_exact_in_memory_where_allocations_are_whole_granules():
    _, anchors = analyze("resnet18", 2)
    direct, _ = analyze("resnet18", 5)
    assert derive_cost(anchors, 5, memory_kind="cuda").memory == direct.memory


def test_a_model_whose_flops_grow_with_the_square_of_the_batch_is_not_derived(tmp_path, monkeypatch):
    path = tmp_path / "similarity.py"
    path.write_text(QUADRATIC)
    name = f"{path}:make"
    cost, anchors = analyze(name, 2)
    assert anchors is None and cost.derived_from_batches == ()
    analyze_model_cached(name, 2)
    calls = []
    real = cost_model.analyze_model_derivable
    monkeypatch.setattr(
        cost_model, "analyze_model_derivable", lambda *a, **k: calls.append(a) or real(*a, **k)
    )
    at_five, _ = analyze_model_cached(name, 5)
    assert len(calls) == 1 and at_five.ops == analyze(name, 5)[0].ops


def test_costs_that_differ_in_more_than_their_batch_do_not_align():
    _, (low, high) = analyze("mlp", 2)
    assert anchors_align(low, high)
    assert not anchors_align(low, dataclasses.replace(high, ops=high.ops[:-1]))
    renamed = dataclasses.replace(high.ops[0], module="elsewhere")
    assert not anchors_align(low, dataclasses.replace(high, ops=(renamed, *high.ops[1:])))
    assert not anchors_align(low, dataclasses.replace(high, num_module_calls=high.num_module_calls + 1))
    with pytest.raises(ValueError, match="below the smaller traced batch"):
        derive_cost((low, high), 1, memory_kind="cuda")


def never_trace(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("traced although the analysis derives")

    monkeypatch.setattr(cost_model, "analyze_model_derivable", fail)


def test_the_cache_derives_every_batch_from_one_trace(monkeypatch, _isolated_cache):
    first, _ = analyze_model_cached("cifar-cnn", 4, memory_kind="cpu")
    assert first.derived_from_batches == () and len(list(_isolated_cache.glob("*.json"))) == 1
    expected = {batch: analyze_model_derivable("cifar-cnn", batch, memory_kind="cpu")[0] for batch in (6, 24)}
    never_trace(monkeypatch)
    for batch in (4, 6, 8, 24, 256):
        cost, note = analyze_model_cached("cifar-cnn", batch, memory_kind="cpu", precision="tf32")
        assert note is None and cost.batch_size == batch and cost.precision == "tf32"
        if batch in expected:
            assert cost.ops == expected[batch].ops and cost.layers == expected[batch].layers
    assert len(list(_isolated_cache.glob("*.json"))) == 1  # derived batches write nothing


def test_a_batch_below_the_traced_ones_is_traced_and_lowers_what_derives(monkeypatch, _isolated_cache):
    analyze_model_cached("cifar-cnn", 4)
    calls = []
    real = cost_model.analyze_model_derivable
    monkeypatch.setattr(
        cost_model, "analyze_model_derivable", lambda *a, **k: calls.append(a) or real(*a, **k)
    )
    analyze_model_cached("cifar-cnn", 2)
    assert len(calls) == 1
    key = analysis_key(
        "cifar-cnn",
        3,
        precision="fp32",
        optimizer=None,
        sequence_length=None,
        memory_kind="cuda",
        foreach=None,
    )
    anchors = load_anchors(key, _isolated_cache)
    assert anchors is not None and anchors[0].batch_size == 2
    never_trace(monkeypatch)
    assert analyze_model_cached("cifar-cnn", 3)[0].derived_from_batches == (2, 4)


def test_batch_one_of_an_lstm_keeps_its_own_entry_and_serves_larger_batches(monkeypatch, _isolated_cache):
    at_one, _ = analyze_model_cached("lstm-lm", 1)
    key = analysis_key(
        "lstm-lm", 1, precision="fp32", optimizer=None, sequence_length=None, memory_kind="cuda", foreach=None
    )
    assert load_cost(key, _isolated_cache) == at_one
    never_trace(monkeypatch)
    assert analyze_model_cached("lstm-lm", 1)[0] == at_one
    assert analyze_model_cached("lstm-lm", 8)[0].derived_from_batches == (2, 3)


def test_predict_of_a_derived_cost_equals_predict_of_a_traced_one(monkeypatch):
    runner = CliRunner()

    def predict(*args):
        devices = ["--device", "h100-sxm", "--device", "intel-xeon-platinum-8480c"]
        result = runner.invoke(app, ["predict", "cifar-cnn", "--batch", "7", *devices, "--json", *args])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    direct = predict("--no-cache")
    analyze_model_cached("cifar-cnn", 2, memory_kind="cuda")
    analyze_model_cached("cifar-cnn", 2, memory_kind="cpu")
    never_trace(monkeypatch)
    derived = predict()
    timing = ("step_time_s", "throughput_samples_per_s", "phases", "transfer_s", "bound", "breakdown")
    for a, b in zip(derived["predictions"], direct["predictions"], strict=True):
        assert {key: a[key] for key in timing} == {key: b[key] for key in timing}
        assert a["peak_memory_bytes"] == pytest.approx(b["peak_memory_bytes"], rel=0.01)

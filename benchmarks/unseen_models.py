"""The CPU model's error on models it was never tuned on: random MLPs, ConvNets, RNNs and Transformers.

Draws ``--count`` models (default 60) from wide ranges of shapes (log-uniform sizes, a batch sized
so a forward pass is 1 MFLOP to 1 GFLOP: steps of about 1 ms to 1 s here), writes them as user
factories (``file.py:function``, the way a user's model reaches devicefit), and times each model's
training step and inference pass at one thread and at all with ``validate``'s step timer, in
slices alternating with this CPU's calibration plan (``calibrate``'s micro-benchmarks, never a
model step; the quick budget unless ``--full``). Fits the device model of each thread count from
that calibration alone and predicts each step. ``--db FILE`` skips the calibration and predicts
from the one stored there (``devicefit calibrate --db FILE``).

Prints each step's error (predicted / measured - 1), the median and 90th percentile of |error|
over all steps and by family, mode and thread count, and the worst families. Bar (issue 19):
median <= 12%, 90th percentile <= 30%, on each of two seeds. ``--json`` prints ``models``,
``steps``, ``median_abs_error``, ``p90_abs_error``, ``by`` (``family``, ``mode``, ``threads``,
each with ``n``, ``median_abs_error``, ``p90_abs_error``), ``seed`` and the step ``rows``.

The seed is new each run unless ``--seed`` is given, and printed so the run can be repeated.
``--out FILE`` records the run; ``--repredict FILE`` predicts a recorded run's measured steps again
with today's code (refitted from its recorded calibration, or from ``--db``), beside the recorded
predictions: a model change compared on the same measurements, without the machine's drift.

Usage: ``python benchmarks/unseen_models.py [--count N] [--seed S] [--db FILE] [--full]
[--threads 1,2] [--json] [--out FILE]``; ``python benchmarks/unseen_models.py --repredict RUN.json``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

#: Model families the generator draws from, in turn.
FAMILIES = ("mlp", "convnet", "rnn", "transformer")
#: The bar of issue 19: (median, 90th percentile) of |error|.
BAR = (0.12, 0.30)
#: A forward pass's FLOPs, drawn log-uniform between these: steps of about 1 ms to 1 s here.
FORWARD_FLOPS = (1e6, 1e9)
#: The largest activation memory of a step (bytes, forward activations counted once per layer).
MAX_ACTIVATION_BYTES = 2e9
MAX_BATCH = 512

Spec = dict[str, Any]


def _log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def _log_int(rng: random.Random, low: int, high: int) -> int:
    return max(low, min(high, round(_log_uniform(rng, low, high + 0.5))))


def _mlp(rng: random.Random) -> tuple[Spec, float, float]:
    widths = [_log_int(rng, 16, 2048)] + [_log_int(rng, 16, 4096) for _ in range(rng.randint(1, 5))]
    widths.append(_log_int(rng, 2, 1000))
    spec = {"widths": widths, "activation": rng.choice(["relu", "gelu", "tanh", "silu"])}
    flops = sum(2.0 * a * b for a, b in zip(widths, widths[1:], strict=False))
    return spec, flops, 4.0 * sum(widths)


def _convnet(rng: random.Random) -> tuple[Spec, float, float]:
    side = _log_int(rng, 16, 128)
    channels = rng.choice([1, 3, 3, 3])
    spec: Spec = {"side": side, "in_channels": channels, "batch_norm": rng.random() < 0.5, "layers": []}
    width = _log_int(rng, 8, 64)
    flops = activations = 0.0
    for _ in range(rng.randint(1, 5)):
        kernel = rng.choice([1, 3, 3, 3, 5, 7])
        stride = 2 if side >= 16 and rng.random() < 0.3 else 1
        pool = side >= 8 and rng.random() < 0.4
        out = (side + 2 * (kernel // 2) - kernel) // stride + 1
        flops += 2.0 * out * out * channels * width * kernel * kernel
        activations += 4.0 * out * out * width * (3 if spec["batch_norm"] else 2)
        spec["layers"].append({"channels": width, "kernel": kernel, "stride": stride, "pool": pool})
        channels, side = width, out // 2 if pool else out
        width = min(512, _log_int(rng, width, 2 * width))
    spec["classes"] = _log_int(rng, 2, 1000)
    return spec, flops + 2.0 * channels * spec["classes"], activations


def _rnn(rng: random.Random) -> tuple[Spec, float, float]:
    cell = rng.choice(["lstm", "gru"])
    hidden, layers, length = _log_int(rng, 32, 1024), rng.randint(1, 3), _log_int(rng, 8, 256)
    inputs = _log_int(rng, 16, 512)
    spec = {
        "cell": cell,
        "hidden": hidden,
        "num_layers": layers,
        "length": length,
        "inputs": inputs,
        "vocabulary": _log_int(rng, 100, 30000) if rng.random() < 0.5 else None,
        "classes": _log_int(rng, 2, 100),
        "tagger": rng.random() < 0.5,
    }
    gates = 4 if cell == "lstm" else 3
    flops = sum(
        2.0 * length * gates * hidden * ((inputs if i == 0 else hidden) + hidden) for i in range(layers)
    )
    return spec, flops, 4.0 * length * hidden * (gates + 1) * layers


def _transformer(rng: random.Random) -> tuple[Spec, float, float]:
    heads = rng.choice([1, 2, 4, 8, 12])
    width = heads * rng.choice([16, 32, 48, 64, 96])
    while width > 1024:
        width //= 2
    depth, length = rng.randint(1, 6), _log_int(rng, 16, 512)
    ffn = width * rng.choice([2, 4])
    spec = {
        "width": width,
        "heads": heads,
        "depth": depth,
        "length": length,
        "ffn": ffn,
        "style": rng.choice(["torch", "handwritten"]),
        "norm_first": rng.random() < 0.5,
        "activation": rng.choice(["relu", "gelu"]),
        "dropout": rng.choice([0.0, 0.1]),
        "vocabulary": _log_int(rng, 1000, 32000) if rng.random() < 0.5 else None,
        "classes": _log_int(rng, 2, 1000),
    }
    flops = depth * (2.0 * length * (4 * width * width + 2 * width * ffn) + 4.0 * length * length * width)
    activations = 4.0 * depth * length * (8 * width + 2 * ffn + 2 * heads * length)
    return spec, flops, activations


_DRAW = {"mlp": _mlp, "convnet": _convnet, "rnn": _rnn, "transformer": _transformer}


def generate(seed: int, count: int) -> list[Spec]:
    """``count`` model specs drawn with ``seed``: the families in turn, each with its batch size.

    A spec whose single sample already exceeds the step's FLOP or memory range is drawn again.
    """
    rng = random.Random(seed)
    specs: list[Spec] = []
    while len(specs) < count:
        family = FAMILIES[len(specs) % len(FAMILIES)]
        spec, flops, activation_bytes = _DRAW[family](rng)
        target = _log_uniform(rng, *FORWARD_FLOPS)
        batch = min(MAX_BATCH, round(target / flops), int(MAX_ACTIVATION_BYTES / activation_bytes))
        if batch < 1:
            continue
        specs.append({"name": f"m{len(specs):03d}_{family}", "family": family, "batch_size": batch, **spec})
    return specs


# --- building the models (imported by the generated factory module) ---------------------------------


def build(spec: Spec, batch_size: int) -> tuple[nn.Module, torch.Tensor]:
    """The model of ``spec`` and its inputs for ``batch_size`` samples: a user factory's result."""
    family = spec["family"]
    if family == "mlp":
        activation = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "silu": nn.SiLU}[spec["activation"]]
        widths = spec["widths"]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(widths, widths[1:], strict=False)):
            layers.append(nn.Linear(a, b))
            if i < len(widths) - 2:
                layers.append(activation())
        return nn.Sequential(*layers), torch.randn(batch_size, widths[0])
    if family == "convnet":
        layers, channels = [], spec["in_channels"]
        for layer in spec["layers"]:
            k = layer["kernel"]
            layers.append(
                nn.Conv2d(
                    channels, layer["channels"], k, layer["stride"], k // 2, bias=not spec["batch_norm"]
                )
            )
            if spec["batch_norm"]:
                layers.append(nn.BatchNorm2d(layer["channels"]))
            layers.append(nn.ReLU())
            if layer["pool"]:
                layers.append(nn.MaxPool2d(2))
            channels = layer["channels"]
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, spec["classes"])]
        side = spec["side"]
        return nn.Sequential(*layers), torch.randn(batch_size, spec["in_channels"], side, side)
    if family == "rnn":
        model: nn.Module = Recurrent(spec)
        shape = (batch_size, spec["length"])
        if spec["vocabulary"]:
            return model, torch.randint(0, spec["vocabulary"], shape)
        return model, torch.randn(*shape, spec["inputs"])
    model = Transformer(spec)
    shape = (batch_size, spec["length"])
    if spec["vocabulary"]:
        return model, torch.randint(0, spec["vocabulary"], shape)
    return model, torch.randn(*shape, spec["width"])


class Recurrent(nn.Module):
    """An LSTM or GRU over embedded tokens or features; a tagger (every step) or a classifier (last)."""

    def __init__(self, spec: Spec) -> None:
        super().__init__()
        self.embed = nn.Embedding(spec["vocabulary"], spec["inputs"]) if spec["vocabulary"] else None
        cell = nn.LSTM if spec["cell"] == "lstm" else nn.GRU
        self.rnn = cell(spec["inputs"], spec["hidden"], spec["num_layers"], batch_first=True)
        self.head = nn.Linear(spec["hidden"], spec["classes"])
        self.tagger = spec["tagger"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The classes (or each step's tags) of a batch."""
        if self.embed is not None:
            x = self.embed(x)
        out, _ = self.rnn(x)
        return self.head(out if self.tagger else out[:, -1])


class Attention(nn.Module):
    """Hand-written multi-head self-attention and MLP block (pre-norm), as in many tutorials."""

    def __init__(self, spec: Spec) -> None:
        super().__init__()
        width, self.heads = spec["width"], spec["heads"]
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        activation = nn.GELU() if spec["activation"] == "gelu" else nn.ReLU()
        self.mlp = nn.Sequential(nn.Linear(width, spec["ffn"]), activation, nn.Linear(spec["ffn"], width))
        self.drop = nn.Dropout(spec["dropout"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block's output, as wide as its input."""
        batch, length, width = x.shape
        q, k, v = self.qkv(self.norm1(x)).split(width, dim=-1)
        q, k, v = (t.view(batch, length, self.heads, -1).transpose(1, 2) for t in (q, k, v))
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        attended = self.drop(torch.softmax(scores, dim=-1)) @ v
        x = x + self.out(attended.transpose(1, 2).reshape(batch, length, width))
        return x + self.drop(self.mlp(self.norm2(x)))


class Transformer(nn.Module):
    """An encoder of ``depth`` layers (``nn.TransformerEncoderLayer`` or hand-written), mean-pooled."""

    def __init__(self, spec: Spec) -> None:
        super().__init__()
        width = spec["width"]
        self.embed = nn.Embedding(spec["vocabulary"], width) if spec["vocabulary"] else None
        if spec["style"] == "torch":
            blocks: list[nn.Module] = [
                nn.TransformerEncoderLayer(
                    width,
                    spec["heads"],
                    spec["ffn"],
                    spec["dropout"],
                    activation=spec["activation"],
                    batch_first=True,
                    norm_first=spec["norm_first"],
                )
                for _ in range(spec["depth"])
            ]
        else:
            blocks = [Attention(spec) for _ in range(spec["depth"])]
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(width, spec["classes"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The classes of a batch of sequences."""
        if self.embed is not None:
            x = self.embed(x)
        return self.head(self.blocks(x).mean(dim=1))


def write_factories(specs: Sequence[Spec], path: Path) -> None:
    """A module of one user factory per spec (``path:m000_mlp``), each building its spec's model."""
    lines = [
        '"""Generated by benchmarks/unseen_models.py: one factory per random model."""',
        "import json, sys",
        f"sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})",
        "from unseen_models import build",
        f"# unseen_models.py sha256 {hashlib.sha256(Path(__file__).read_bytes()).hexdigest()}",
        f"SPECS = json.loads({json.dumps(json.dumps({s['name']: s for s in specs}))})",
    ]
    for spec in specs:
        lines.append(f"def {spec['name']}(batch_size={spec['batch_size']}):")
        lines.append(f"    return build(SPECS[{spec['name']!r}], batch_size)")
    path.write_text("\n".join(lines) + "\n")


# --- summarizing ----------------------------------------------------------------------------------


def _figures(errors: Iterable[float]) -> dict[str, Any]:
    from devicefit.analyze.stats import error_summary

    return error_summary(list(errors))


def summarize(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The run's figures from its step rows (each with ``family``, ``mode``, ``threads``, ``error``).

    Returns ``models``, ``steps`` (measured steps), ``median_abs_error``, ``p90_abs_error`` and
    ``by``: the same figures (``n``, ``median_abs_error``, ``p90_abs_error``) by family, mode and
    thread count.
    """
    measured = [r for r in rows if r.get("error") is not None]
    overall = _figures(r["error"] for r in measured)
    by: dict[str, dict[str, Any]] = {}
    for key in ("family", "mode", "threads"):
        groups: dict[str, list[float]] = defaultdict(list)
        for r in measured:
            groups[str(r[key])].append(r["error"])
        by[key] = {group: _figures(errors) for group, errors in sorted(groups.items())}
    return {
        "models": len({r["model"] for r in rows}),
        "steps": len(measured),
        "median_abs_error": overall["median_abs_error"],
        "p90_abs_error": overall["p90_abs_error"],
        "by": by,
    }


def _print_summary(summary: dict[str, Any], out: Any) -> None:
    median, p90 = summary["median_abs_error"], summary["p90_abs_error"]
    if median is None:
        print("nothing measured", file=out)
        return
    verdict = "PASS" if median <= BAR[0] and p90 <= BAR[1] else "FAIL"
    print(
        f"all: |error| median {median:.1%}, p90 {p90:.1%} over {summary['steps']} steps of"
        f" {summary['models']} models  [{verdict}: median <= {BAR[0]:.0%}, p90 <= {BAR[1]:.0%}]",
        file=out,
    )
    for key, groups in summary["by"].items():
        for group, figures in groups.items():
            print(
                f"  {key} {group:<12} median {figures['median_abs_error']:.1%},"
                f" p90 {figures['p90_abs_error']:.1%} over {figures['n']}",
                file=out,
            )
    worst = sorted(summary["by"]["family"].items(), key=lambda item: -item[1]["median_abs_error"])
    print(
        "worst families: " + ", ".join(f"{f} ({v['median_abs_error']:.0%})" for f, v in worst[:2]), file=out
    )


def _print_rows(rows: Sequence[dict[str, Any]], out: Any) -> None:
    print(
        f"{'model':<18}{'batch':>6} {'mode':<6}{'thr':>4}{'predicted':>11}{'measured':>11}{'error':>8}",
        file=out,
    )
    for r in rows:
        measured = f"{r['measured_s'] * 1e3:>9.2f}ms" if r["measured_s"] else f"{r['status']:>11}"
        error = f"{r['error']:>+8.0%}" if r["error"] is not None else ""
        print(
            f"{r['model']:<18}{r['batch_size']:>6} {r['mode']:<6}{r['threads']:>4}"
            f"{r['predicted_s'] * 1e3:>9.2f}ms{measured}{error}",
            file=out,
        )


# --- running ---------------------------------------------------------------------------------------

#: Slices the calibration and the model steps alternate in (as benchmarks/prediction_error.py does).
INTERLEAVE = 8

Key = tuple[str, str, int]


def _points(specs: Sequence[Spec], factories: Path) -> list[Any]:
    from devicefit.records import ValidationPoint

    return [
        ValidationPoint(
            model=f"{factories}:{spec['name']}",
            batch_size=spec["batch_size"],
            train=train,
            sequence_length=None,
        )
        for spec in specs
        for train in (True, False)
    ]


def _chunks(items: Sequence[Any], count: int) -> list[list[Any]]:
    size = -(-len(items) // count)
    return [list(items[i * size : (i + 1) * size]) for i in range(count)]


def measure(
    specs: Sequence[Spec], factories: Path, threads: Sequence[int], *, calibrate: bool, quick: bool, out: Any
) -> tuple[dict[Key, tuple[float | None, str]], list[Any]]:
    """Times each spec's steps with validate's timer; with ``calibrate``, the calibration plan between them.

    The calibration (``calibrate``'s plan, each thread count) and the model steps run in
    alternating slices, so that both see the same moments of a machine whose speed drifts (a VM
    whose other tenants come and go): calibrated first, a run's later steps were timed 1.5-2x
    slower than the calibration saw, at one thread and at two. Returns the measured steps by
    (model, mode, threads), and the calibrations as ``(description, threads, results)``.
    """
    from devicefit.app.validate import plan_validation
    from devicefit.devices import select_devices
    from devicefit.measure.calibration_plan import plan_calibration
    from devicefit.measure.runner import FULL, QUICK, execute

    device = select_devices("cpu")[0]
    description = device.properties()
    devices = {device.id: device}
    points = _points(specs, factories)
    # Each model's steps at every thread count together, models in turn.
    steps = [
        (point, t, case)
        for i in range(0, len(points), 2)
        for t in threads
        for point, case in zip(
            points[i : i + 2],
            plan_validation(description, points[i : i + 2], num_threads=t),
            strict=True,
        )
    ]
    plans = {
        t: plan_calibration(description, num_threads=t, quick=quick) if calibrate else [] for t in threads
    }
    calibration_slices = {t: _chunks(plan, INTERLEAVE) for t, plan in plans.items()}
    results: dict[int, list[Any]] = {t: [] for t in threads}
    measured: dict[Key, tuple[float | None, str]] = {}
    started = time.perf_counter()
    for i, chunk in enumerate(_chunks(steps, INTERLEAVE)):
        for t in threads:
            results[t] += execute(calibration_slices[t][i], devices, QUICK if quick else FULL)
        for (point, t, _), result in zip(
            chunk, execute([c for _, _, c in chunk], devices, QUICK), strict=True
        ):
            name = point.model.rpartition(":")[2]
            ok = result.status == "ok"
            measured[(name, "train" if point.train else "infer", t)] = (
                result.median_s if ok else None,
                result.status,
            )
        print(
            f"  slice {i + 1}/{INTERLEAVE} measured ({time.perf_counter() - started:.0f} s)",
            file=out,
            flush=True,
        )
    return measured, [(description, t, results[t]) for t in threads]


def fitted_models(calibrations: Sequence[Any]) -> dict[int, Any]:
    """The device model of each thread count, fitted from its calibration results."""
    from devicefit.predict.calibration import fit_device_model

    return {
        t: fit_device_model(results, description, num_threads=t, source="benchmarks/unseen_models.py")
        for description, t, results in calibrations
    }


def stored_models(db: Path, threads: Sequence[int]) -> dict[int, Any]:
    """The device model of each thread count from the calibrations stored in ``db``."""
    from devicefit.app.validate import calibrated_target
    from devicefit.devices import select_devices
    from devicefit.store.sqlite import Store

    device = select_devices("cpu")[0]
    with Store(db) as store:
        return {t: calibrated_target(device, store, num_threads=t).model for t in threads}


def predict(specs: Sequence[Spec], factories: Path, models: dict[int, Any]) -> dict[Key, float]:
    """Each spec's predicted step, by (model, mode, threads), through the analysis cache."""
    from devicefit.app.validate import analyze
    from devicefit.predict.roofline import predict_step

    predicted = {}
    for spec in specs:
        cost = analyze(f"{factories}:{spec['name']}", spec["batch_size"], None, "cpu")
        for t, model in models.items():
            for mode in ("train", "infer"):
                prediction = predict_step(cost, model, mode=mode, memory_kind="cpu")
                predicted[(spec["name"], mode, t)] = prediction.step_time_s
    return predicted


def _rows(
    specs: Sequence[Spec],
    threads: Sequence[int],
    predicted: dict[Key, float],
    measured: dict[Key, tuple[float | None, str]],
) -> list[dict[str, Any]]:
    rows = []
    for spec in specs:
        for t in threads:
            for mode in ("train", "infer"):
                key = (spec["name"], mode, t)
                time_s, status = measured.get(key, (None, "not run"))
                p = predicted[key]
                rows.append(
                    {
                        "model": spec["name"],
                        "family": spec["family"],
                        "batch_size": spec["batch_size"],
                        "mode": mode,
                        "threads": t,
                        "predicted_s": p,
                        "measured_s": time_s,
                        "status": status,
                        "error": p / time_s - 1 if time_s else None,
                    }
                )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=60)
    parser.add_argument("--seed", type=int, help="the generator's seed (default: a new one, printed)")
    parser.add_argument("--db", type=Path, help="a database holding this CPU's calibration (else calibrate)")
    parser.add_argument("--full", action="store_true", help="the full calibration budget (twice as long)")
    parser.add_argument("--threads", help="thread counts, comma-separated (default: 1 and all)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON alone on stdout")
    parser.add_argument("--out", type=Path, help="record the run (specs, measured and predicted steps)")
    parser.add_argument("--repredict", type=Path, help="a recorded --out run: predict its steps again")
    args = parser.parse_args()
    log = sys.stderr if args.json else sys.stdout
    recorded = json.loads(args.repredict.read_text()) if args.repredict else None
    # A recorded run's folder keeps its factories, calibration and analyses: nothing is traced again.
    kept = Path(recorded["work"]) if recorded and Path(recorded.get("work", "")).is_dir() else None
    work = kept or Path(tempfile.mkdtemp(prefix="devicefit-unseen-"))
    os.environ.setdefault("DEVICEFIT_CACHE_DIR", str(work / "cache"))
    seed = recorded["seed"] if recorded else args.seed
    if seed is None:
        seed = random.SystemRandom().randrange(2**31)
    count = recorded["count"] if recorded else args.count
    threads = tuple(recorded["threads"]) if recorded else _threads(args.threads)
    print(f"seed {seed}: {count} models, threads {','.join(map(str, threads))}", file=log)
    specs = generate(seed, count)
    factories = work / "unseen_factories.py"
    if kept is None:
        write_factories(specs, factories)
    calibration_file = work / "calibration.json.gz"
    if recorded:
        from devicefit.predict.recorded import read_calibration

        if args.db:
            models = stored_models(args.db, threads)
        elif calibration_file.is_file():
            models = {
                (c.num_threads or 1): c.fit(source=str(calibration_file))
                for c in read_calibration(calibration_file)
            }
        else:
            sys.exit(f"{calibration_file} is gone: pass --db with the calibration the run was predicted with")
        measured = {
            (r["model"], r["mode"], r["threads"]): (r["measured_s"], r["status"]) for r in recorded["rows"]
        }
        before = {(r["model"], r["mode"], r["threads"]): r["predicted_s"] for r in recorded["rows"]}
        print("recorded predictions:", file=log)
        _print_summary(summarize(_rows(specs, threads, before, measured)), log)
        print("today's predictions:", file=log)
    else:
        measured, calibrations = measure(
            specs, factories, threads, calibrate=args.db is None, quick=not args.full, out=log
        )
        if args.db:
            models = stored_models(args.db, threads)
        else:
            from devicefit.predict.recorded import write_calibration

            write_calibration(calibration_file, calibrations)
            models = fitted_models(calibrations)
    rows = _rows(specs, threads, predict(specs, factories, models), measured)
    _print_rows(rows, log)
    summary = summarize(rows)
    _print_summary(summary, log)
    print(f"seed {seed} (repeat with --seed {seed} --count {count})", file=log)
    if args.out:
        args.out.write_text(
            json.dumps(
                {"seed": seed, "count": count, "threads": list(threads), "work": str(work), "rows": rows},
                indent=1,
            )
        )
    if args.json:
        print(json.dumps({**summary, "seed": seed, "rows": rows}, indent=1))


def _threads(option: str | None) -> tuple[int, ...]:
    if option:
        return tuple(int(t) for t in option.split(","))
    from devicefit.devices import select_devices
    from devicefit.predict.calibration import calibration_threads

    return tuple(t or 1 for t in calibration_threads(select_devices("cpu")[0].properties()))


if __name__ == "__main__":
    main()

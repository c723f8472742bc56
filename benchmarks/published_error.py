"""GPU prediction error on published whole steps: NVIDIA's ConvNets throughputs (development set).

Reads ``../shared/published/dle-convnets.csv`` (from the repository root; NVIDIA DeepLearningExamples'
PyTorch ConvNets READMEs, see its README) and predicts every single-GPU row as the source ran it:
the model from devicefit's zoo at the source's image size, the GPU by its catalog name, the batch per
GPU, training (forward, backward and the optimizer step the source trains with: SGD with momentum for
the ResNeXts, RMSprop with momentum for the EfficientNets) or inference, FP32, TF32, or AMP (autocast
to fp16) with channels-last memory. Each row's error is on the step's time, as
``benchmarks/prediction_error.py`` counts it: predicted / published - 1, the published time being
``batch / throughput``; a prediction 10% too slow is +10%, whatever the throughput says (-9%).

What is modelled: the GPU's kernels (matrix products, convolutions, memory-bound ops), their launch
cost, and the host that launches them (as far as ``devicefit.predict_step`` models it), from the
catalog and the packaged curves; nothing is fitted to these rows. What is not: the input pipeline.
The training rows are the source's benchmark mode, which feeds synthetic or DALI-decoded images on
the GPU and overlaps them with the step; their time is counted in the published throughput and not
in the prediction. Nor does the prediction see the loss scaler of AMP training (a few elementwise
passes over the gradients), cuDNN's algorithm search, or clocks below the catalog's boost clock.

Skipped, and said so: the multi-GPU rows (data-parallel scaling waits for the scale-out issue) and
the EfficientNet-quant rows (quantization-aware training, which devicefit does not model). A row
that cannot be predicted is an error, printed with its reason and counted; it is never dropped.

Predictions run against an empty temporary database unless ``--db`` names one, so a local GPU's
calibration cannot leak into a catalog GPU's prediction. Each (model, batch, precision) is traced
once on fake tensors and kept in the analysis cache; a first run traces about 170 of them (tens of
minutes on a 2-core machine, ``--jobs`` runs them in parallel), later runs take seconds.

Usage: ``python benchmarks/published_error.py [--precision FP32,TF32,AMP] [--gpu T4,...]
[--mode training,inference] [--csv FILE] [--db FILE] [--jobs N] [--json]``
"""

from __future__ import annotations

import argparse
import concurrent.futures
import csv
import dataclasses
import json
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from devicefit.analyze.stats import error_summary

#: The published set, from the repository root (``../shared`` beside the clone).
DEFAULT_CSV = Path(__file__).resolve().parents[1] / ".." / "shared" / "published" / "dle-convnets.csv"

#: Issue 19's bar for the single-GPU rows: (median, 90th percentile) of |error|.
BAR = (0.12, 0.30)

#: The source's model names (the ``model`` column before its parenthesis) as zoo names.
ZOO_NAMES = {
    "ResNeXt101-32x4d": "resnext101-32x4d",
    "SE-ResNeXt101-32x4d": "se-resnext101-32x4d",
    "EfficientNet-b0": "efficientnet-b0",
    "EfficientNet-widese-b0": "efficientnet-widese-b0",
    "EfficientNet-b4": "efficientnet-b4",
    "EfficientNet-widese-b4": "efficientnet-widese-b4",
}

#: Image sizes (training, inference) where the zoo's default is not the source's. The CSV's EfficientNet
#: rows give none; DLE's configs.yml trains B4 at 320 and its inference benchmark runs at 384 (B0 runs at
#: 224 both ways, the zoo's default). The ResNeXts run at 224 (the CSV's "ImageNet 224").
IMAGE_SIZES = {
    "efficientnet-b4": (320, 384),
    "efficientnet-widese-b4": (320, 384),
}

#: The source's GPU names as catalog names.
CATALOG_NAMES = {
    "A100-SXM4-80GB": "NVIDIA A100 80GB SXM4",
    "V100-SXM2-16GB": "NVIDIA Tesla V100 SXM2 16GB",
    "V100-SXM2-32GB": "NVIDIA Tesla V100 SXM2 32GB",
    "T4": "NVIDIA T4",
}

#: The source's precisions as devicefit's: TF32 is fp32 storage with tensor-core products; AMP is
#: autocast to fp16, and DLE runs it with channels-last memory (``--memory-format nhwc``).
PRECISIONS = {"FP32": ("fp32", False), "TF32": ("tf32", False), "AMP": ("amp", True)}

#: The optimizer each model family trains with in DLE's configs.yml.
OPTIMIZERS = {"resnext": "sgd-momentum", "efficientnet": "rmsprop-momentum"}

MODES = {"training": "train", "inference": "infer"}


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class PublishedRow:
    """One single-GPU row of the published set, as devicefit predicts it.

    Attributes:
        model: The source's model name (``EfficientNet-b4``).
        zoo_name: The zoo model at the source's image size (``efficientnet-b4@320``).
        gpu: The source's GPU name (``V100-SXM2-16GB``).
        catalog_name: That GPU in devicefit's catalog.
        mode: ``train`` or ``infer``.
        source_precision: ``FP32``, ``TF32`` or ``AMP``.
        precision: devicefit's precision: ``fp32``, ``tf32`` or ``amp``.
        channels_last: Whether the source ran with channels-last memory (AMP rows).
        optimizer: The training rows' optimizer.
        batch_size: Images per step on the GPU.
        throughput_per_s: Published images per second.
        source: The file and line the row comes from.
        suspect: The source column marks the row ``[SUSPECT: ...]`` (a README table whose figures
            contradict each other); predicted and counted like any other, and also summed up without.
    """

    model: str
    zoo_name: str
    gpu: str
    catalog_name: str
    mode: str
    source_precision: str
    precision: str
    channels_last: bool
    optimizer: str
    batch_size: int
    throughput_per_s: float
    source: str
    suspect: bool = False

    @property
    def published_time_s(self) -> float:
        """The published time of one step."""
        return self.batch_size / self.throughput_per_s


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Selection:
    """The rows to predict and what was left out, with why."""

    rows: tuple[PublishedRow, ...]
    multi_gpu: int
    quantized: int
    filtered: int


def parse_rows(
    lines: Iterable[str],
    *,
    precisions: frozenset[str] | None = None,
    gpus: frozenset[str] | None = None,
    modes: frozenset[str] | None = None,
) -> Selection:
    """The single-GPU rows of the CSV, mapped to zoo, catalog and devicefit names.

    Args:
        lines: The CSV's lines, header first.
        precisions: Keep only these source precisions (``FP32``...); all when ``None``.
        gpus: Keep only these source GPU names; all when ``None``.
        modes: Keep only these source tasks (``training``, ``inference``); all when ``None``.

    Raises:
        ValueError: A row names a model, GPU, precision or task this script has no mapping for.
    """
    rows, multi_gpu, quantized, filtered = [], 0, 0, 0
    for record in csv.DictReader(lines):
        model = record["model"].split(" (")[0]
        if "-quant-" in model:
            quantized += 1
            continue
        if int(record["num_gpus"]) != 1:
            multi_gpu += 1
            continue
        task, gpu, precision = record["task"], record["gpu"], record["precision"]
        if (
            (precisions is not None and precision not in precisions)
            or (gpus is not None and gpu not in gpus)
            or (modes is not None and task not in modes)
        ):
            filtered += 1
            continue
        for value, table in (
            (model, ZOO_NAMES),
            (gpu, CATALOG_NAMES),
            (precision, PRECISIONS),
            (task, MODES),
        ):
            if value not in table:
                raise ValueError(f"no mapping for {value!r} in {record['source']}: add it to this script")
        rows.append(_mapped(record, model, MODES[task]))
    return Selection(rows=tuple(rows), multi_gpu=multi_gpu, quantized=quantized, filtered=filtered)


def _mapped(record: dict[str, str], model: str, mode: str) -> PublishedRow:
    zoo_name = ZOO_NAMES[model]
    if zoo_name in IMAGE_SIZES:
        train_pixels, infer_pixels = IMAGE_SIZES[zoo_name]
        zoo_name = f"{zoo_name}@{train_pixels if mode == 'train' else infer_pixels}"
    precision, channels_last = PRECISIONS[record["precision"]]
    return PublishedRow(
        model=model,
        zoo_name=zoo_name,
        gpu=record["gpu"],
        catalog_name=CATALOG_NAMES[record["gpu"]],
        mode=mode,
        source_precision=record["precision"],
        precision=precision,
        channels_last=channels_last,
        optimizer=OPTIMIZERS["efficientnet" if zoo_name.startswith("efficientnet") else "resnext"],
        batch_size=int(record["batch_per_gpu"]),
        throughput_per_s=float(record["throughput"]),
        source=record["source"],
        suspect="[SUSPECT" in record["source"],
    )


def predict_time_s(row: PublishedRow, db: str) -> float:
    """The predicted step time of ``row`` on its catalog GPU, from the packaged defaults.

    Options are passed only where they differ from ``predict_step``'s defaults (channels-last
    memory; ``host=None``, the datacenter default, is left out), so FP32 rows predict with any
    version of the API.
    """
    import devicefit

    options: dict[str, Any] = {"channels_last": True} if row.channels_last else {}
    outcome = devicefit.predict_step(
        row.zoo_name,
        row.catalog_name,
        batch_size=row.batch_size,
        precision=row.precision,
        train=row.mode == "train",
        optimizer=row.optimizer,
        db=db,
        **options,
    )
    if len(outcome.predictions) != 1:
        reasons = "; ".join(f"{device}: {reason}" for device, reason in outcome.skipped)
        raise RuntimeError(f"{row.catalog_name} was not predicted ({reasons or 'no reason given'})")
    return outcome.predictions[0].step_time_s


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """A row's prediction, or why there is none."""

    row: PublishedRow
    predicted_time_s: float | None = None
    reason: str | None = None

    @property
    def error(self) -> float | None:
        """The error on the step's time: predicted / published - 1."""
        if self.predicted_time_s is None:
            return None
        return self.predicted_time_s / self.row.published_time_s - 1


def predict_row(row: PublishedRow, db: str, predict: Callable[[PublishedRow, str], float]) -> Outcome:
    """The row's outcome: its prediction, or the one-line reason it has none."""
    try:
        return Outcome(row=row, predicted_time_s=predict(row, db))
    except Exception as error:  # any failure is this row's result, reported with the others
        return Outcome(row=row, reason=f"{type(error).__name__}: {str(error).splitlines()[0]}")


def _warm_cache(rows: tuple[PublishedRow, ...], db: str, jobs: int) -> None:
    """Traces each distinct analysis once, ``jobs`` at a time: the predictions that follow hit the cache.

    An analysis serves every batch from its smallest traced one up (``analyze/derive.py``): each
    model, precision and memory format is traced at its smallest batch.
    """
    distinct: dict[tuple[str, str, bool], PublishedRow] = {}
    for r in sorted(rows, key=lambda r: r.batch_size, reverse=True):
        distinct[(r.zoo_name, r.precision, r.channels_last)] = r
    with concurrent.futures.ProcessPoolExecutor(jobs) as pool:
        futures = [pool.submit(predict_row, r, db, predict_time_s) for r in distinct.values()]
        for done, _ in enumerate(concurrent.futures.as_completed(futures), 1):
            print(f"  traced {done}/{len(futures)}", file=sys.stderr, end="\r")
    print(file=sys.stderr)


def summarize(outcomes: list[Outcome]) -> dict[str, Any]:
    """Median and 90th-percentile |error| overall and by GPU, mode and precision."""
    predicted = [o for o in outcomes if o.error is not None]
    by: dict[str, dict[str, Any]] = {}
    for key, value in (
        ("gpu", lambda o: o.row.gpu),
        ("mode", lambda o: o.row.mode),
        ("precision", lambda o: o.row.source_precision),
    ):
        groups: dict[str, list[float]] = {}
        for outcome in predicted:
            groups.setdefault(value(outcome), []).append(outcome.error)  # type: ignore[arg-type]
        by[key] = {name: error_summary(errors) for name, errors in sorted(groups.items())}
    overall = error_summary([o.error for o in predicted if o.error is not None])
    trusted = error_summary([o.error for o in predicted if o.error is not None and not o.row.suspect])
    return {
        "rows": len(outcomes),
        "predicted": len(predicted),
        "median_abs_error": overall["median_abs_error"],
        "p90_abs_error": overall["p90_abs_error"],
        "by": by,
        "without_suspect": trusted,
    }


def _print_table(outcomes: list[Outcome]) -> None:
    print(
        f"{'model':<28}{'gpu':<16}{'mode':<6}{'prec':<6}{'batch':>6}"
        f"{'published':>11}{'predicted':>11}{'error':>8}  (img/s; error on the step's time)"
    )
    for o in outcomes:
        r = o.row
        name = r.zoo_name + (" *" if r.suspect else "")
        head = f"{name:<28}{r.gpu:<16}{r.mode:<6}{r.source_precision:<6}{r.batch_size:>6}"
        if o.predicted_time_s is None:
            print(f"{head}{r.throughput_per_s:>11.0f}  NOT PREDICTED: {o.reason}")
        else:
            print(
                f"{head}{r.throughput_per_s:>11.0f}{r.batch_size / o.predicted_time_s:>11.0f}{o.error:>+8.0%}"
            )


def _print_summary(summary: dict[str, Any], selection: Selection) -> None:
    def line(label: str, figures: dict[str, Any]) -> str:
        if figures["median_abs_error"] is None:
            return f"  {label:<16} no rows predicted"
        return (
            f"  {label:<16} |error| median {figures['median_abs_error']:6.1%}, "
            f"p90 {figures['p90_abs_error']:6.1%} over {figures['n']} rows"
        )

    print()
    print(
        f"{summary['predicted']} of {summary['rows']} single-GPU rows predicted; left out: "
        f"{selection.multi_gpu} multi-GPU rows (scale-out issue), {selection.quantized} EfficientNet-quant "
        f"rows (quantization-aware training), {selection.filtered} rows outside the filters"
    )
    overall = {"n": summary["predicted"], **summary}
    print(line("all", overall))
    print(line("not suspect", summary["without_suspect"]) + " (* rows: the source marks them SUSPECT)")
    for key, groups in summary["by"].items():
        for name, figures in groups.items():
            print(line(f"{key} {name}", figures))
    median, p90 = summary["median_abs_error"], summary["p90_abs_error"]
    if median is not None:
        met = median <= BAR[0] and p90 <= BAR[1] and summary["predicted"] == summary["rows"]
        print(f"bar (every row, median <= {BAR[0]:.0%}, p90 <= {BAR[1]:.0%}): {'met' if met else 'NOT met'}")


def _names(text: str | None) -> frozenset[str] | None:
    return frozenset(part.strip() for part in text.split(",") if part.strip()) if text else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV, help="the published set")
    parser.add_argument("--precision", help="comma-separated source precisions: FP32, TF32, AMP")
    parser.add_argument("--gpu", help="comma-separated source GPU names: T4, V100-SXM2-16GB...")
    parser.add_argument("--mode", help="comma-separated source tasks: training, inference")
    parser.add_argument("--db", help="results database to predict with (default: an empty one)")
    parser.add_argument("--jobs", type=int, default=1, help="trace uncached models in N processes")
    parser.add_argument("--json", action="store_true", help="print the summary and every row as JSON")
    args = parser.parse_args()
    if not args.csv.is_file():
        sys.exit(
            f"no published set at {args.csv.resolve()}: put ../shared beside the clone or pass --csv FILE"
        )
    with args.csv.open(newline="", encoding="utf-8") as file:
        try:
            selection = parse_rows(
                file, precisions=_names(args.precision), gpus=_names(args.gpu), modes=_names(args.mode)
            )
        except ValueError as error:
            sys.exit(str(error))
    with tempfile.TemporaryDirectory() as scratch:
        db = args.db or str(Path(scratch) / "published.db")
        if args.jobs > 1:
            _warm_cache(selection.rows, db, args.jobs)
        # Smallest batches first: larger ones then derive from their analysis instead of tracing.
        by_batch = sorted(selection.rows, key=lambda row: row.batch_size)
        done = {id(row): predict_row(row, db, predict_time_s) for row in by_batch}
        outcomes = [done[id(row)] for row in selection.rows]
    summary = summarize(outcomes)
    if args.json:
        details = [
            {
                **dataclasses.asdict(o.row),
                "predicted_time_s": o.predicted_time_s,
                "error": o.error,
                "reason": o.reason,
            }
            for o in outcomes
        ]
        skipped = {
            "multi_gpu": selection.multi_gpu,
            "quantized": selection.quantized,
            "filtered": selection.filtered,
        }
        print(json.dumps({**summary, "skipped": skipped, "details": details}, indent=2))
    else:
        _print_table(outcomes)
        _print_summary(summary, selection)
    sys.exit(0 if summary["predicted"] == summary["rows"] else 1)


if __name__ == "__main__":
    main()

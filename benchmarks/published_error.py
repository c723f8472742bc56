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

The multi-GPU training rows (8 to 64 GPUs, data parallel: DDP's bucketed gradient all-reduce
beside the backward pass, ``predict --gpus N --parallel ddp``) are predicted on DGX machines of 8
GPUs each (16 GPUs are 2 machines), over the catalog's links (``catalog/links.toml``: NVLink and
the DGX's InfiniBand adapters); nothing in that model is fitted to these rows. Their error is also
given on the throughput, and each row's scaling efficiency (throughput over N times the same
source's one-GPU throughput at the same batch per GPU) is printed beside the predicted one.
Single-GPU figures and the bar stay those of the single-GPU rows; ``by.gpus`` keys every figure
by GPU count. Skipped, and said so: the EfficientNet-quant rows (quantization-aware training,
which devicefit does not model). A row that cannot be predicted is an error, printed with its
reason and counted; it is never dropped.

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
import statistics
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
#: Issue 23's bar for the multi-GPU rows: median |error| of the throughput.
MULTI_GPU_BAR = 0.15
#: GPUs per machine in the source's systems (DGX-1 and DGX A100 hold 8).
GPUS_PER_NODE = 8

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
        num_gpus: GPUs the step ran on, data parallel (``batch_size`` on each).
        single_gpu_throughput_per_s: The same source's one-GPU throughput of the same model, GPU,
            precision and batch, for multi-GPU rows (``None``: no such row).
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
    num_gpus: int = 1
    single_gpu_throughput_per_s: float | None = None

    @property
    def published_time_s(self) -> float:
        """The published time of one step (each GPU takes ``batch_size`` samples a step)."""
        return self.num_gpus * self.batch_size / self.throughput_per_s

    @property
    def nodes(self) -> int:
        """Machines of ``GPUS_PER_NODE`` GPUs the step ran on."""
        return max(self.num_gpus // GPUS_PER_NODE, 1)

    @property
    def published_scaling_efficiency(self) -> float | None:
        """Throughput over ``num_gpus`` times the one-GPU throughput, as published."""
        if self.num_gpus == 1 or self.single_gpu_throughput_per_s is None:
            return None
        return self.throughput_per_s / (self.num_gpus * self.single_gpu_throughput_per_s)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Selection:
    """The rows to predict and what was left out, with why."""

    rows: tuple[PublishedRow, ...]
    quantized: int
    filtered: int


def parse_rows(
    lines: Iterable[str],
    *,
    precisions: frozenset[str] | None = None,
    gpus: frozenset[str] | None = None,
    modes: frozenset[str] | None = None,
) -> Selection:
    """The rows of the CSV, mapped to zoo, catalog and devicefit names.

    Args:
        lines: The CSV's lines, header first.
        precisions: Keep only these source precisions (``FP32``...); all when ``None``.
        gpus: Keep only these source GPU names; all when ``None``.
        modes: Keep only these source tasks (``training``, ``inference``); all when ``None``.

    Raises:
        ValueError: A row names a model, GPU, precision or task this script has no mapping for.
    """
    rows, quantized, filtered = [], 0, 0
    for record in csv.DictReader(lines):
        model = record["model"].split(" (")[0]
        if "-quant-" in model:
            quantized += 1
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
    single = {
        (r.model, r.gpu, r.mode, r.source_precision, r.batch_size): r.throughput_per_s
        for r in rows
        if r.num_gpus == 1
    }
    rows = [
        dataclasses.replace(
            r,
            single_gpu_throughput_per_s=single.get(
                (r.model, r.gpu, r.mode, r.source_precision, r.batch_size)
            ),
        )
        if r.num_gpus > 1
        else r
        for r in rows
    ]
    return Selection(rows=tuple(rows), quantized=quantized, filtered=filtered)


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
        num_gpus=int(record["num_gpus"]),
    )


def predict_row_step(row: PublishedRow, db: str) -> tuple[float, float | None]:
    """The predicted step time of ``row`` and the scaling efficiency of a multi-GPU row.

    Predicted on its catalog GPU(s) from the packaged defaults.
    Options are passed only where they differ from ``predict_step``'s defaults (channels-last
    memory, several GPUs; ``host=None``, the datacenter default, is left out), so FP32 rows
    predict with any version of the API.
    """
    import devicefit

    options: dict[str, Any] = {"channels_last": True} if row.channels_last else {}
    if row.num_gpus > 1:
        options.update(gpus=row.num_gpus, nodes=row.nodes, parallel="ddp")
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
    prediction = outcome.predictions[0]
    return prediction.step_time_s, prediction.scaling_efficiency


def predict_time_s(row: PublishedRow, db: str) -> float:
    """The predicted step time of ``row`` (``predict_row_step``'s first half)."""
    return predict_row_step(row, db)[0]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """A row's prediction, or why there is none."""

    row: PublishedRow
    predicted_time_s: float | None = None
    predicted_scaling_efficiency: float | None = None
    reason: str | None = None

    @property
    def error(self) -> float | None:
        """The error on the step's time: predicted / published - 1."""
        if self.predicted_time_s is None:
            return None
        return self.predicted_time_s / self.row.published_time_s - 1

    @property
    def throughput_error(self) -> float | None:
        """The error on the throughput: predicted / published - 1 (a step 10% too slow is -9%)."""
        if self.predicted_time_s is None:
            return None
        return self.row.published_time_s / self.predicted_time_s - 1


def predict_row(
    row: PublishedRow,
    db: str,
    predict: Callable[[PublishedRow, str], float | tuple[float, float | None]],
) -> Outcome:
    """The row's outcome: its prediction, or the one-line reason it has none."""
    try:
        predicted = predict(row, db)
    except Exception as error:  # any failure is this row's result, reported with the others
        return Outcome(row=row, reason=f"{type(error).__name__}: {str(error).splitlines()[0]}")
    time_s, efficiency = predicted if isinstance(predicted, tuple) else (predicted, None)
    return Outcome(row=row, predicted_time_s=time_s, predicted_scaling_efficiency=efficiency)


def _warm_cache(rows: tuple[PublishedRow, ...], db: str, jobs: int) -> None:
    """Traces each distinct analysis once, ``jobs`` at a time: the predictions that follow hit the cache.

    An analysis serves every batch from its smallest traced one up (``analyze/derive.py``): each
    model, precision and memory format is traced at its smallest batch.
    """
    distinct: dict[tuple[str, str, bool], PublishedRow] = {}
    for r in sorted(rows, key=lambda r: r.batch_size, reverse=True):
        distinct[(r.zoo_name, r.precision, r.channels_last)] = r
    with concurrent.futures.ProcessPoolExecutor(jobs) as pool:
        futures = [pool.submit(predict_row, r, db, predict_row_step) for r in distinct.values()]
        for done, _ in enumerate(concurrent.futures.as_completed(futures), 1):
            print(f"  traced {done}/{len(futures)}", file=sys.stderr, end="\r")
    print(file=sys.stderr)


def summarize(outcomes: list[Outcome]) -> dict[str, Any]:
    """The single-GPU rows' |error| (median, 90th percentile), overall and by GPU, mode and precision.

    Also every row's figures by GPU count (``by.gpus``) and the multi-GPU rows' own (``multi_gpu``).
    """
    single = [o for o in outcomes if o.row.num_gpus == 1]
    predicted = [o for o in single if o.error is not None]
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
    by["gpus"] = {
        str(n): _figures([o for o in outcomes if o.row.num_gpus == n])
        for n in sorted({o.row.num_gpus for o in outcomes})
    }
    overall = error_summary([o.error for o in predicted if o.error is not None])
    trusted = error_summary([o.error for o in predicted if o.error is not None and not o.row.suspect])
    return {
        "rows": len(single),
        "predicted": len(predicted),
        "median_abs_error": overall["median_abs_error"],
        "p90_abs_error": overall["p90_abs_error"],
        "by": by,
        "without_suspect": trusted,
        "multi_gpu": _figures([o for o in outcomes if o.row.num_gpus > 1]),
    }


def _figures(outcomes: list[Outcome]) -> dict[str, Any]:
    """A group's rows and rows predicted, its |error| on the step time and on the throughput.

    Also the throughput's by GPU kind, and the published and predicted scaling efficiencies (medians).
    """
    done = [o for o in outcomes if o.error is not None]
    efficiencies = [
        (o.row.published_scaling_efficiency, o.predicted_scaling_efficiency)
        for o in done
        if o.row.published_scaling_efficiency is not None and o.predicted_scaling_efficiency is not None
    ]
    trusted = [
        (o.row.published_scaling_efficiency, o.predicted_scaling_efficiency)
        for o in done
        if not o.row.suspect
        and o.row.published_scaling_efficiency is not None
        and o.predicted_scaling_efficiency is not None
    ]
    by_gpu: dict[str, list[float]] = {}
    for o in done:
        by_gpu.setdefault(o.row.gpu, []).append(o.throughput_error)  # type: ignore[arg-type]
    return {
        "rows": len(outcomes),
        "predicted": len(done),
        **error_summary([o.error for o in done if o.error is not None]),
        "throughput": error_summary([o.throughput_error for o in done if o.throughput_error is not None]),
        "throughput_by_gpu": {gpu: error_summary(errors) for gpu, errors in sorted(by_gpu.items())},
        "scaling_efficiency": {
            "rows": len(efficiencies),
            "published_median": _median([p for p, _ in efficiencies]),
            "predicted_median": _median([q for _, q in efficiencies]),
            # In points of efficiency, leaving out rows whose one-GPU figure the source marks suspect.
            "median_abs_difference": _median([abs(q - p) for p, q in trusted]),
        },
    }


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _print_table(outcomes: list[Outcome]) -> None:
    print(
        f"{'model':<28}{'gpu':<16}{'mode':<6}{'prec':<6}{'batch':>6}"
        f"{'published':>11}{'predicted':>11}{'error':>8}  (img/s; error on the step's time)"
    )
    for o in (o for o in outcomes if o.row.num_gpus == 1):
        r = o.row
        name = r.zoo_name + (" *" if r.suspect else "")
        head = f"{name:<28}{r.gpu:<16}{r.mode:<6}{r.source_precision:<6}{r.batch_size:>6}"
        if o.predicted_time_s is None:
            print(f"{head}{r.throughput_per_s:>11.0f}  NOT PREDICTED: {o.reason}")
        else:
            print(
                f"{head}{r.throughput_per_s:>11.0f}{r.batch_size / o.predicted_time_s:>11.0f}{o.error:>+8.0%}"
            )


def _print_multi_gpu_table(outcomes: list[Outcome]) -> None:
    multi = [o for o in outcomes if o.row.num_gpus > 1]
    if not multi:
        return
    print()
    print(
        f"{'model':<28}{'gpu':<16}{'gpus':>5}{'prec':>6}{'batch':>6}{'published':>11}{'predicted':>11}"
        f"{'error':>8}{'scaling':>9}{'pred.':>7}  (img/s, all GPUs; error on the throughput;"
        " scaling efficiency published, predicted)"
    )
    for o in multi:
        r = o.row
        name = r.zoo_name + (" *" if r.suspect else "")
        head = f"{name:<28}{r.gpu:<16}{r.num_gpus:>5}{r.source_precision:>6}{r.batch_size:>6}"
        if o.predicted_time_s is None:
            print(f"{head}{r.throughput_per_s:>11.0f}  NOT PREDICTED: {o.reason}")
            continue
        published = r.published_scaling_efficiency
        predicted = o.predicted_scaling_efficiency
        print(
            f"{head}{r.throughput_per_s:>11.0f}{r.num_gpus * r.batch_size / o.predicted_time_s:>11.0f}"
            f"{o.throughput_error:>+8.0%}"
            f"{'' if published is None else format(published, '.0%'):>9}"
            f"{'' if predicted is None else format(predicted, '.0%'):>7}"
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
        f"{selection.quantized} EfficientNet-quant rows (quantization-aware training), "
        f"{selection.filtered} rows outside the filters"
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
    multi = summary["multi_gpu"]
    if not multi["rows"]:
        return
    print()
    print(
        f"{multi['predicted']} of {multi['rows']} multi-GPU rows predicted (data parallel, DGX machines of 8)"
    )
    print(line("all", multi) + " (on the step's time)")
    print(line("throughput", {"n": multi["predicted"], **multi["throughput"]}))
    for gpu, figures in multi["throughput_by_gpu"].items():
        print(line(f"throughput {gpu}", figures))
    for gpus, figures in summary["by"]["gpus"].items():
        print(line(f"{gpus} GPUs", figures) + " (on the step's time)")
    scaling = multi["scaling_efficiency"]
    if scaling["rows"]:
        print(
            f"  scaling efficiency over {scaling['rows']} rows with a one-GPU row: median published "
            f"{scaling['published_median']:.0%}, predicted {scaling['predicted_median']:.0%}; median "
            f"|predicted - published| {scaling['median_abs_difference']:.1%} (rows not suspect)"
        )
    throughput = multi["throughput"]["median_abs_error"]
    if throughput is not None:
        met = throughput <= MULTI_GPU_BAR and multi["predicted"] == multi["rows"]
        verdict = "met" if met else "NOT met"
        print(f"multi-GPU bar (every row, throughput median <= {MULTI_GPU_BAR:.0%}): {verdict}")


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
        done = {id(row): predict_row(row, db, predict_row_step) for row in by_batch}
        outcomes = [done[id(row)] for row in selection.rows]
    summary = summarize(outcomes)
    if args.json:
        details = [
            {
                **dataclasses.asdict(o.row),
                "predicted_time_s": o.predicted_time_s,
                "error": o.error,
                "throughput_error": o.throughput_error,
                "published_scaling_efficiency": o.row.published_scaling_efficiency,
                "predicted_scaling_efficiency": o.predicted_scaling_efficiency,
                "reason": o.reason,
            }
            for o in outcomes
        ]
        skipped = {
            "quantized": selection.quantized,
            "filtered": selection.filtered,
        }
        print(json.dumps({**summary, "skipped": skipped, "details": details}, indent=2))
    else:
        _print_table(outcomes)
        _print_multi_gpu_table(outcomes)
        _print_summary(summary, selection)
    complete = summary["predicted"] == summary["rows"]
    complete = complete and summary["multi_gpu"]["predicted"] == summary["multi_gpu"]["rows"]
    sys.exit(0 if complete else 1)


if __name__ == "__main__":
    main()

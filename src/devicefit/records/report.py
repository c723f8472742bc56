"""Records of a report: what ``devicefit report`` gathered from the store, analyses and predictions."""

from __future__ import annotations

from dataclasses import dataclass

from devicefit.records.advice import CrossoverOutcome
from devicefit.records.diagnosis import WatchOutcome
from devicefit.records.measurement import Run
from devicefit.records.model import ClassCost
from devicefit.records.outcome import Comparison
from devicefit.records.prediction import Prediction


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelReport:
    """One selected model: its operator classes, its step on each device, and its crossover.

    Attributes:
        model: The model as the user named it.
        batch_size: The batch of ``predictions`` (the model's default).
        precision: The precision of the analysis and predictions.
        classes: Per operator class of the training step (FLOPs and bytes), for the roofline.
        predictions: The training step on each selected device, at ``batch_size``.
        crossover: Samples/s by batch size on each device, and where each GPU overtakes the CPU.
        notes: What the reader should know (devices left out, defaults used).
    """

    model: str
    batch_size: int
    precision: str
    classes: tuple[ClassCost, ...]
    predictions: tuple[Prediction, ...]
    crossover: CrossoverOutcome | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ValidatedStep:
    """A stored, measured model step beside its prediction, traceable to its run and case.

    Attributes:
        run_id: The run that measured it.
        case_id: Its case in that run.
        comparison: Predicted and measured step time.
    """

    run_id: int
    case_id: str
    comparison: Comparison


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceRate:
    """What an hour of a device costs: the cheapest priced instance per GPU.

    Attributes:
        device: Catalog id.
        usd_per_hour: The instance's on-demand price over its GPUs.
        source: The instance (``aws/p4d.24xlarge``) and where its price comes from.
    """

    device: str
    usd_per_hour: float
    source: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportContent:
    """Everything a report shows; ``report.html`` and ``report.figures`` turn it into a page or JSON.

    Attributes:
        version: The devicefit version that made it.
        command: The command line that made it.
        created_at: When (ISO time).
        runs: The selected benchmark runs, oldest first (the machine, roofline and scaling sections).
        history: Every stored run sharing a benchmark case with ``runs``, oldest first.
        models: The selected models.
        validated: Every validated step in the store.
        rates: Hourly prices of the catalog devices among the predictions.
        notes: What the reader should know.
        watches: The selected watch sessions (``devicefit watch``), with their samples.
    """

    version: str
    command: str
    created_at: str
    runs: tuple[Run, ...]
    history: tuple[Run, ...] = ()
    models: tuple[ModelReport, ...] = ()
    validated: tuple[ValidatedStep, ...] = ()
    rates: tuple[DeviceRate, ...] = ()
    notes: tuple[str, ...] = ()
    watches: tuple[WatchOutcome, ...] = ()

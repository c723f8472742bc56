"""Frozen records that flow between devicefit's stages; SI units inside, formatting only in report/."""

from devicefit.records.hardware import (
    ArchitectureSpec,
    CPUProperties,
    DeviceDescription,
    DeviceKind,
    DeviceSpec,
    GPUProperties,
    Peak,
    PriceSpec,
    SourceSpec,
)
from devicefit.records.measurement import (
    SCHEMA_VERSION,
    Environment,
    Measurement,
    Result,
    ResultStatus,
    Run,
    RunStatus,
    RunSummary,
    Summary,
)
from devicefit.records.model import (
    ClassCost,
    LayerCost,
    LiveMemory,
    MemoryEstimate,
    ModelCost,
    OpCost,
    TracedMemory,
)
from devicefit.records.outcome import BenchOutcome
from devicefit.records.prediction import ClassTime, DeviceModel, EfficiencyCurve, Prediction

__all__ = [
    "SCHEMA_VERSION",
    "ClassTime",
    "DeviceModel",
    "EfficiencyCurve",
    "Prediction",
    "ArchitectureSpec",
    "BenchOutcome",
    "CPUProperties",
    "ClassCost",
    "DeviceDescription",
    "DeviceKind",
    "DeviceSpec",
    "Environment",
    "GPUProperties",
    "LayerCost",
    "LiveMemory",
    "Measurement",
    "MemoryEstimate",
    "ModelCost",
    "OpCost",
    "Peak",
    "PriceSpec",
    "Result",
    "ResultStatus",
    "Run",
    "RunStatus",
    "RunSummary",
    "SourceSpec",
    "Summary",
    "TracedMemory",
]

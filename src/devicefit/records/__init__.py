"""Frozen records that flow between devicefit's stages; SI units inside, formatting only in report/."""

from devicefit.records.hardware import (
    ArchitectureSpec,
    CPUProperties,
    DeviceDescription,
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
from devicefit.records.prediction import ClassTime, DeviceModel, EfficiencyCurve, Prediction
from devicefit.records.vocabulary import DeviceClass, DeviceKind, MemoryKind

__all__ = [
    "SCHEMA_VERSION",
    "ClassTime",
    "DeviceModel",
    "EfficiencyCurve",
    "Prediction",
    "ArchitectureSpec",
    "CPUProperties",
    "ClassCost",
    "DeviceClass",
    "DeviceDescription",
    "DeviceKind",
    "DeviceSpec",
    "Environment",
    "GPUProperties",
    "LayerCost",
    "LiveMemory",
    "Measurement",
    "MemoryEstimate",
    "MemoryKind",
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

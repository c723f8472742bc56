"""The vocabulary is the one spelling of family names: what the plans measure and the defaults key."""

from importlib.resources import files

import tomllib

from devicefit.devices import CPUDevice, FakeDevice
from devicefit.measure.bench_plan import plan_micro
from devicefit.measure.calibration_plan import plan_calibration
from devicefit.records.vocabulary import (
    COMPUTE_CURVE_OF_BENCHMARK,
    MEMORY_CURVE_OF_BENCHMARK,
    Benchmark,
    Curve,
)

BENCHMARKS = {value for name, value in vars(Benchmark).items() if name.isupper()}
CURVES = {value for name, value in vars(Curve).items() if name.isupper()}


def test_every_family_factor_in_the_defaults_names_a_memory_curve():
    defaults = tomllib.loads(files("devicefit.predict").joinpath("defaults.toml").read_text())
    tables = [*defaults["kinds"].values(), *defaults.get("architectures", {}).values()]
    keys = {key for table in tables for key in table.get("family_factor", {})}
    assert keys, "the defaults have family factors"
    # A misspelt key would silently leave its family at the plain bandwidth fraction.
    assert keys <= CURVES
    assert keys <= set(MEMORY_CURVE_OF_BENCHMARK.values())


def test_every_case_the_plans_make_is_a_benchmark_of_the_vocabulary():
    cpu, gpu = CPUDevice().properties(), FakeDevice().properties()
    cases = [
        *plan_micro(cpu, quick=False),
        *plan_micro(gpu, quick=False),
        *plan_calibration(cpu, num_threads=1, quick=True),
        *plan_calibration(gpu, num_threads=None, quick=True),
    ]
    measured = {case.benchmark for case in cases}
    assert measured <= BENCHMARKS, measured - BENCHMARKS
    # Every curve a fit reads is fed by some benchmark the calibration measures.
    fed = {COMPUTE_CURVE_OF_BENCHMARK.get(b) for b in measured} | {
        MEMORY_CURVE_OF_BENCHMARK.get(b) for b in measured
    }
    assert set(COMPUTE_CURVE_OF_BENCHMARK.values()) | set(MEMORY_CURVE_OF_BENCHMARK.values()) <= fed

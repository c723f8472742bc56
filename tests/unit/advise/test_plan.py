"""The plan: cost is time times price, the pick is the best feasible candidate, else none with the closest."""

import dataclasses
import math

import pytest

from devicefit.advise.plan import Option, make_plan
from devicefit.records import ElectricityPrice, InstancePrice
from devicefit.records.advice import PlanConstraints
from tests.unit.advise.helpers import prediction

ELECTRICITY = ElectricityPrice(usd_per_kwh=0.2, observed="2025", source="test", quality="user", date="2025")


def instance(name, device, usd_per_hour, num_gpus=1):
    return InstancePrice(
        id=f"test/{name}",
        provider="test",
        instance=name,
        device=device,
        num_gpus=num_gpus,
        usd_per_hour=usd_per_hour,
        billing="bundled",
        observed="2025-06",
        source="a test",
        quality="user",
        date="2025-06",
    )


def constraints(**overrides):
    fields = dict(samples=1_000_000, epochs=10, deadline_s=None, budget_usd=None, rate_per_s=None,
                  batch_size=None, mode="train")  # fmt: skip
    return PlanConstraints(**{**fields, **overrides})


# 100 samples per step: slow 0.1 s (1,000 samples/s), fast 0.01 s (10,000 samples/s), local 1 s.
SLOW = Option(
    prediction=prediction("slow", batch_size=100, step_s=0.1), instance=instance("slow", "slow", 1.0)
)
FAST = Option(
    prediction=prediction("fast", batch_size=100, step_s=0.01), instance=instance("fast", "fast", 20.0)
)
LOCAL = Option(prediction=prediction("cpu", batch_size=100, step_s=1.0, power_w=50.0))
BIG = Option(
    prediction=prediction("big", batch_size=100, step_s=0.01, fits=False),
    instance=instance("big", "big", 0.5),
)


def plan(options=(SLOW, FAST, LOCAL, BIG), objective="cost", **overrides):
    return make_plan("m", options, constraints(**overrides), objective=objective, electricity=ELECTRICITY)


def test_cost_is_time_times_price():
    outcome = plan()
    for c in outcome.candidates:
        assert c.cost_usd == pytest.approx(c.time_s / 3600 * c.price_usd_per_h * c.num_instances, rel=0.01)
    slow = next(c for c in outcome.candidates if c.device == "slow")
    # 1e7 samples at 1,000 samples/s: 1e4 s, at $1/h.
    assert slow.time_s == pytest.approx(1e4)
    assert slow.cost_usd == pytest.approx(1e4 / 3600)
    local = next(c for c in outcome.candidates if c.device == "cpu")
    # 1e5 s at 50 W: 1.389 kWh at $0.2/kWh.
    assert local.energy_kwh == pytest.approx(1e5 * 50 / 3.6e6)
    assert local.cost_usd == pytest.approx(local.energy_kwh * 0.2)


def test_every_price_has_a_source_and_a_date():
    for c in plan().candidates:
        assert c.price_source and c.price_date


def test_the_pick_is_the_cheapest_feasible_candidate():
    outcome = plan(deadline_s=20_000)  # the local CPU needs 1e5 s
    pick = outcome.candidates[outcome.pick]
    feasible = [c for c in outcome.candidates if c.feasible]
    assert pick.feasible and pick.cost_usd == min(c.cost_usd for c in feasible)
    assert pick.device == "slow"
    assert not next(c for c in outcome.candidates if c.device == "big").feasible


def test_objective_time_picks_the_fastest_feasible():
    outcome = plan(objective="time")
    assert outcome.candidates[outcome.pick].device == "fast"


def test_an_impossible_deadline_gives_none_with_the_closest():
    outcome = plan(deadline_s=1.0)
    assert outcome.pick is None
    closest = [outcome.candidates[i].device for i in outcome.closest]
    assert closest[0] == "fast" and "big" not in closest


def test_a_budget_rules_out_the_expensive_candidates():
    outcome = plan(objective="time", budget_usd=5.0)
    # fast: 1e3 s at $20/h = $5.56, over; slow: $2.78.
    assert outcome.candidates[outcome.pick].device == "slow"


def test_the_pareto_front_holds_the_undominated_fitting_candidates():
    outcome = plan()
    front = {c.device for c in outcome.candidates if c.pareto}
    # local: cheapest and slowest; fast: fastest; slow: in between on both.
    assert front == {"cpu", "slow", "fast"}


def test_a_multi_gpu_instance_divides_the_time_and_says_so():
    quad = Option(prediction=SLOW.prediction, instance=instance("quad", "slow", 4.0, num_gpus=4))
    (c,) = plan(options=(quad,)).candidates
    assert c.time_s == pytest.approx(1e4 / 4) and c.assumptions


def test_serving_at_a_rate_counts_the_devices_it_needs():
    outcome = plan(options=(SLOW, LOCAL), mode="infer", rate_per_s=2_500, samples=None, epochs=1)
    slow = next(c for c in outcome.candidates if c.device == "slow")
    assert (slow.gpus, slow.num_instances) == (3, 3)
    assert slow.cost_usd == pytest.approx(3.0)  # an hour of 3 instances at $1/h
    local = next(c for c in outcome.candidates if c.device == "cpu")
    assert not local.feasible and not math.isinf(local.time_s)


def test_a_multi_gpu_prediction_costs_its_own_scaling_and_says_so():
    four = dataclasses.replace(
        SLOW.prediction,
        gpus=4,
        replicas=4,
        parallel="ddp",
        step_time_s=SLOW.prediction.step_time_s * 1.25,
        scaling_efficiency=0.8,
        comm_s=0.1,
        exposed_comm_s=0.05,
    )
    quad = Option(prediction=four, instance=instance("quad", "slow", 4.0, num_gpus=4))
    (c,) = plan(options=(quad,)).candidates
    # A quarter of the one-GPU time, made 1.25x as long by the exposed communication.
    assert c.time_s == pytest.approx(1e4 / 4 * 1.25)
    assert "scaling efficiency 80%" in c.assumptions[0]

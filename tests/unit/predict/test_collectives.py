import pytest

from devicefit.predict.collectives import (
    Link,
    bus_bandwidth,
    bus_factor,
    collective_time_s,
    fit_link,
    ring_steps,
)


def test_ring_factors_follow_nccl_tests():
    assert bus_factor("all_reduce", 8) == pytest.approx(2 * 7 / 8)
    assert bus_factor("all_gather", 4) == pytest.approx(3 / 4)
    assert bus_factor("reduce_scatter", 2) == pytest.approx(1 / 2)
    assert bus_factor("broadcast", 4) == 1.0
    assert ring_steps("all_reduce", 4) == 6
    assert ring_steps("broadcast", 4) == 3


def test_one_rank_costs_nothing():
    link = Link(bus_bytes_per_s=1e9, latency_s=1e-5)
    assert collective_time_s("all_reduce", 1e6, 1, link) == 0.0


def test_time_is_latency_steps_plus_bus_bytes_over_bandwidth():
    link = Link(bus_bytes_per_s=100e9, latency_s=5e-6)
    t = collective_time_s("all_reduce", 1e9, 8, link)
    assert t == pytest.approx(14 * 5e-6 + 1.75 * 1e9 / 100e9)
    # The bus bandwidth of that time, without latency, is the link's.
    assert bus_bandwidth("all_reduce", 1e9, 8, t - 14 * 5e-6) == pytest.approx(100e9)


def test_fit_recovers_a_link_from_its_own_times():
    link = Link(bus_bytes_per_s=3e9, latency_s=20e-6)
    sizes = [2.0**k for k in range(10, 27, 2)]
    times = [collective_time_s("all_reduce", s, 2, link) for s in sizes]
    fitted = fit_link("all_reduce", 2, sizes, times)
    assert fitted.bus_bytes_per_s == pytest.approx(3e9, rel=1e-6)
    assert fitted.latency_s == pytest.approx(20e-6, rel=1e-6)


def test_fit_refuses_too_few_or_flat_times():
    with pytest.raises(ValueError, match="two message sizes"):
        fit_link("all_reduce", 2, [1e6], [1e-3])
    with pytest.raises(ValueError, match="do not grow"):
        fit_link("all_reduce", 2, [1e3, 1e6], [1e-3, 1e-3])


def test_fit_takes_the_latency_from_the_small_messages_floor():
    # gloo-like: small messages sit on a 1.5 ms floor (another algorithm), large ones on the bandwidth line.
    link = Link(bus_bytes_per_s=0.9e9, latency_s=0.75e-3)
    sizes = [4.0**k * 1024 for k in range(9)]  # 1 KiB .. 64 MiB
    times = [max(1.5e-3, collective_time_s("all_reduce", s, 2, link)) for s in sizes]
    fitted = fit_link("all_reduce", 2, sizes, times)
    assert fitted.latency_s == pytest.approx(0.75e-3, rel=0.02)
    assert fitted.bus_bytes_per_s == pytest.approx(0.9e9, rel=0.01)
    for size, time in zip(sizes, times, strict=True):
        assert collective_time_s("all_reduce", size, 2, fitted) == pytest.approx(time, rel=0.1)

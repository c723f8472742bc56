"""A modelled GPU with a simulated clock: tests the timer and dry-runs the pipeline without hardware.

Following ``torch.utils.benchmark``'s ``_MockCudaTimer``, the fake device is asynchronous: a call
costs the host ``launch_s`` and queues ``max(flops / peak, bytes / bandwidth)`` of device work;
``synchronize`` advances the host clock to when that work is done. A timer that forgets to
synchronize therefore measures launch cost only, exactly as it would on a real GPU.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping

from devicefit.devices.energy import Counter, CounterMeter, EnergyMeter, NoMeter
from devicefit.records import DeviceDescription, DeviceKind, Peak

#: Figures of the default fake GPU: round numbers, not any real product.
DEFAULT_PEAKS = {"fp32": 20e12, "tf32": 80e12, "bf16": 160e12, "fp16": 160e12, "int8": 320e12}


class FakeDevice:
    """A simulated GPU whose clock only moves when work, launches or clock reads cost time.

    Args:
        peak_flops_per_s: Peak rate by dtype; work runs at ``efficiency`` of it.
        bandwidth_bytes_per_s: Memory bandwidth; memory-bound work runs at ``efficiency`` of it.
        host_link_bytes_per_s: Host-to-device bandwidth, for transfer cases.
        memory_bytes: Device memory; simulating a call that needs more raises out-of-memory.
        launch_s: Host time to queue one call.
        sync_s: Host time of one synchronization.
        clock_read_s: Host time of one clock read.
        efficiency: Fraction of peak the simulated work achieves.
        jitter: Relative spread of simulated work times (uniform, seeded).
        seed: Seed of the jitter.
        asynchronous: ``False`` models a CPU: work runs on the host as it is called.
        power_w: A constant power its simulated energy counter integrates over the simulated clock;
            ``None``: the device has no meter.
    """

    kind: DeviceKind = "fake"

    def __init__(
        self,
        *,
        device_id: str = "fake",
        peak_flops_per_s: Mapping[str, float] | None = None,
        bandwidth_bytes_per_s: float = 1e12,
        host_link_bytes_per_s: float = 25e9,
        memory_bytes: int = 16 * 2**30,
        launch_s: float = 5e-6,
        sync_s: float = 10e-6,
        clock_read_s: float = 50e-9,
        efficiency: float = 0.8,
        jitter: float = 0.0,
        seed: int = 0,
        asynchronous: bool = True,
        power_w: float | None = None,
    ) -> None:
        self.id = device_id
        self.torch_device = "cpu"
        self.peak_flops_per_s = dict(peak_flops_per_s or DEFAULT_PEAKS)
        self.bandwidth_bytes_per_s = bandwidth_bytes_per_s
        self.host_link_bytes_per_s = host_link_bytes_per_s
        self.memory_bytes = memory_bytes
        self.launch_s = launch_s
        self.sync_s = sync_s
        self.clock_read_s = clock_read_s
        self.efficiency = efficiency
        self.jitter = jitter
        self.asynchronous = asynchronous
        self.power_w = power_w
        self.num_synchronizations = 0
        self._random = random.Random(seed)
        self._host_s = 0.0
        self._device_free_s = 0.0
        self._allocated_bytes = 0

    def synchronize(self) -> None:
        """Advances the host clock to the end of all queued work."""
        self.num_synchronizations += 1
        self._host_s = max(self._host_s, self._device_free_s) + self.sync_s

    def now_s(self) -> float:
        """Returns the simulated host clock; each read costs ``clock_read_s``."""
        self._host_s += self.clock_read_s
        return self._host_s

    def available_memory_bytes(self) -> int | None:
        """Returns the simulated free memory."""
        return self.memory_bytes - self._allocated_bytes

    def release_memory(self) -> None:
        """Frees every simulated allocation."""
        self._allocated_bytes = 0

    def step_peak_bytes(self, fn: Callable[[], object]) -> int | None:
        """Simulated work allocates nothing."""
        fn()
        return None

    def work(
        self, *, flops: float = 0.0, bytes_moved: float = 0.0, dtype: str = "fp32", link: bool = False
    ) -> Callable[[], None]:
        """Returns a callable that simulates one call doing this much work.

        Args:
            flops: Operations per call.
            bytes_moved: Bytes read plus written per call.
            dtype: Which peak the operations run at.
            link: The bytes cross the host link instead of device memory.
        """
        bandwidth = self.host_link_bytes_per_s if link else self.bandwidth_bytes_per_s
        compute_s = flops / (
            self.peak_flops_per_s.get(dtype, self.peak_flops_per_s["fp32"]) * self.efficiency
        )
        memory_s = bytes_moved / (bandwidth * self.efficiency)
        duration_s = max(compute_s, memory_s)

        def call() -> None:
            spread = 1.0 + self.jitter * (2 * self._random.random() - 1)
            self._host_s += self.launch_s
            if self.asynchronous:
                start_s = max(self._host_s, self._device_free_s)
                self._device_free_s = start_s + duration_s * spread
            else:
                self._host_s += duration_s * spread

        return call

    def simulate(
        self, *, flops: float, bytes_moved: float, memory_bytes: int, dtype: str, link: bool
    ) -> Callable[[], object]:
        """Simulates a call from its work counts (``SimulatedDevice``); no tensors are allocated."""
        if memory_bytes > self.memory_bytes - self._allocated_bytes:
            import torch

            raise torch.OutOfMemoryError(
                f"fake device: case needs {memory_bytes} bytes, {self.memory_bytes} available"
            )
        return self.work(flops=flops, bytes_moved=bytes_moved, dtype=dtype, link=link)

    def energy_meter(self) -> EnergyMeter:
        """A simulated counter at ``power_w`` over the simulated clock, or no meter without ``power_w``."""
        clock = lambda: self._host_s  # noqa: E731 - reading it must not cost simulated time
        if self.power_w is None:
            return NoMeter("no meter: a simulated GPU has none", clock)
        power_w = self.power_w
        counter = Counter(name="fake", read_j=lambda: power_w * self._host_s)
        return CounterMeter([counter], meter="simulated counter", resolution_j=None, clock=clock)

    def properties(self) -> DeviceDescription:
        """Describes the modelled device; its peaks are the model's inputs."""
        return DeviceDescription(
            id=self.id,
            kind="fake",
            name="devicefit fake GPU (simulated clock)",
            vendor="devicefit",
            memory_bytes=self.memory_bytes,
            peaks=tuple(
                Peak(dtype=dtype, flops_per_s=value, derivation="model input")
                for dtype, value in self.peak_flops_per_s.items()
            ),
            peak_bandwidth_bytes_per_s=self.bandwidth_bytes_per_s,
            bandwidth_derivation="model input",
            host_link_bytes_per_s=self.host_link_bytes_per_s,
        )

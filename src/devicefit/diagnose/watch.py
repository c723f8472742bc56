"""Samples a process tree and the machine for ``devicefit watch``, without root.

psutil reads each process's CPU time, resident memory and I/O counters from ``/proc`` (I/O where
the kernel permits: the user's own processes); per-core utilization and I/O wait are the whole
machine's. GPU figures come from a function handed in (NVML's, or a fake), called with the tree's
pids so it can count the memory the tree holds.

The cost of a sample is what ``benchmarks/watch_overhead.py`` measures: listing the tree reads every
process's parent, so the tree is listed again only every ``refresh_every`` samples.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import psutil

from devicefit.records import GPUSample, WatchSample

GPUReader = Callable[[set[int]], tuple[GPUSample, ...]]

#: The tree is listed again every this many samples (at 5 Hz: each second); a process started in
#: between is counted from the next listing.
REFRESH_EVERY = 5


class TreeSampler:
    """Samples the process tree rooted at ``pid``.

    Args:
        pid: The root of the tree (the watched command, or the process attached to).
        gpu: Reads every GPU for a set of pids; ``None`` without GPUs.
        clock: Monotonic clock in seconds.
        refresh_every: List the tree's processes again every this many samples.
    """

    def __init__(
        self,
        pid: int,
        *,
        gpu: GPUReader | None = None,
        clock: Callable[[], float] = time.monotonic,
        refresh_every: int = REFRESH_EVERY,
    ) -> None:
        self._root = psutil.Process(pid)
        self._gpu = gpu
        self._clock = clock
        self._refresh_every = refresh_every
        self._processes: dict[int, psutil.Process] = {}
        self._num_samples = 0
        self.start_s = clock()
        # The first call of each counter returns a meaningless value: prime them.
        psutil.cpu_percent(percpu=True)
        psutil.cpu_times_percent()
        self._list_tree()

    def _list_tree(self) -> None:
        try:
            tree = [self._root, *self._root.children(recursive=True)]
        except psutil.Error:
            tree = []
        current = {p.pid: p for p in tree}
        for pid, process in current.items():
            if pid not in self._processes:
                try:
                    process.cpu_percent(None)
                except psutil.Error:
                    continue
                self._processes[pid] = process
        for pid in set(self._processes) - set(current):
            del self._processes[pid]

    def sample(self) -> WatchSample:
        """Reads the tree and the machine now; CPU figures cover the time since the last sample."""
        self._num_samples += 1
        if self._num_samples % self._refresh_every == 0:
            self._list_tree()
        cpu_percent, rss_bytes, read_bytes, write_bytes, io_seen = 0.0, 0, 0, 0, False
        alive = 0
        for pid, process in list(self._processes.items()):
            try:
                with process.oneshot():
                    cpu_percent += process.cpu_percent(None)
                    rss_bytes += process.memory_info().rss
                    try:
                        io = process.io_counters()
                        read_bytes += io.read_bytes
                        write_bytes += io.write_bytes
                        io_seen = True
                    except (psutil.AccessDenied, AttributeError):
                        pass
                alive += 1
            except psutil.Error:
                del self._processes[pid]
        times = psutil.cpu_times_percent()
        return WatchSample(
            elapsed_s=self._clock() - self.start_s,
            cpu_percent=cpu_percent,
            core_percents=tuple(psutil.cpu_percent(percpu=True)),
            iowait_percent=getattr(times, "iowait", None),
            rss_bytes=rss_bytes,
            read_bytes=read_bytes if io_seen else None,
            write_bytes=write_bytes if io_seen else None,
            num_processes=alive,
            gpus=self._gpu(set(self._processes)) if self._gpu is not None else (),
        )

    def is_alive(self) -> bool:
        """The root process still runs (a zombie counts as ended)."""
        try:
            return self._root.is_running() and self._root.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

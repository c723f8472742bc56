"""Which process records a run, and whether that process still lives (through psutil)."""

from __future__ import annotations

import os
import socket

import psutil

#: psutil dates a process from the boot time plus its start in clock ticks; clock adjustments can
#: move the boot time a process reads by a fraction of a second. A reused pid belongs to a process
#: started after the run's process ended, so it is told apart by far more than this.
START_TIME_TOLERANCE_S = 1.0


def this_host() -> str:
    """The name runs record as their host (``socket.gethostname``, as the environment does)."""
    return socket.gethostname()


def this_process() -> tuple[int, float]:
    """The id and start time (seconds since the epoch) of the running process."""
    return os.getpid(), psutil.Process().create_time()


def is_process_alive(pid: int, started_at_s: float) -> bool:
    """Whether the process ``pid`` started at ``started_at_s`` still runs on this host.

    A pid now held by a process started at another time was reused: the recorded process is gone.
    A zombie (killed, not yet reaped) is gone. A process whose start time may not be read exists,
    so it counts as alive.
    """
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return abs(process.create_time() - started_at_s) <= START_TIME_TOLERANCE_S
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True

"""A process writing results, for the concurrency tests: ``python -m tests.unit.store.writer DB N GO DELAY``.

It prints ``ready``, waits for the file ``GO`` to exist (so that several writers open a new database at
once), then records one run of ``N`` results (case ids ``case.0`` ...), printing each result's number
once it is committed, ``DELAY`` seconds apart.
"""

import sys
import time
from pathlib import Path

from devicefit.store.sqlite import Store
from tests.unit.store.test_sqlite import DEVICE, HERE, make_result


def main(db: str, num_results: int, go: Path, delay_s: float) -> None:
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.01)
    with (
        Store(db) as store,
        store.recording(command="writer", environment=HERE, devices=(DEVICE,)) as recorder,
    ):
        for number in range(num_results):
            recorder.add(make_result(case_id=f"case.{number}", value=float(number)))
            print(number, flush=True)
            time.sleep(delay_s)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), float(sys.argv[4]))

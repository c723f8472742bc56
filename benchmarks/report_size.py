"""Seconds and bytes of ``devicefit report``: a ``bench --quick`` run, resnet18 and gpt2, three catalog GPUs.

Runs the command in a fresh process against the results database given (``--db``, holding a
``devicefit bench --quick`` run; this script never benchmarks), twice: the first may trace the models
(the analysis cache starts as the user's, or empty with ``--cold``), the second reads the traces from
the cache. Prints the wall time and size of each, and every ``src=``/``href=`` of the page that is
not a page anchor (the bar: none).

Bars (issue 21): under 30 s and under 6 MB, no external URL.
Usage: ``python benchmarks/report_size.py --db RUNS.db [--cold]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path

#: The bars of issue 21.
MAX_SECONDS = 30.0
MAX_BYTES = 6 * 10**6
#: The local devices and three catalog GPUs (a small inference card, a datacenter one, a large one).
DEVICES = "local,nvidia-t4,nvidia-a100-80gb-sxm4,nvidia-h100-sxm5-80gb"


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v for k, v in attrs if k in ("src", "href") and v and not v.startswith("#")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="a results database holding a bench --quick run")
    parser.add_argument("--cold", action="store_true", help="start from an empty analysis cache")
    args = parser.parse_args()
    script = Path(sys.executable).with_name("devicefit")
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "devicefit"]
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, **({"DEVICEFIT_CACHE_DIR": folder} if args.cold else {})}
        output = Path(folder) / "report.html"
        for attempt in ("first", "second"):
            started = time.perf_counter()
            subprocess.run(
                [
                    *command,
                    "report",
                    "--db",
                    args.db,
                    "-m",
                    "resnet18",
                    "-m",
                    "gpt2",
                    "-d",
                    DEVICES,
                    "-o",
                    str(output),
                ],
                check=True,
                env=env,
                capture_output=True,
            )
            seconds = time.perf_counter() - started
            size = output.stat().st_size
            links = _Links()
            links.feed(output.read_text(encoding="utf-8"))
            verdict = "ok" if seconds < MAX_SECONDS and size < MAX_BYTES and not links.urls else "OVER"
            print(
                f"{attempt} run: {seconds:.1f} s (bar {MAX_SECONDS:.0f} s), {size / 1e6:.2f} MB "
                f"(bar {MAX_BYTES / 1e6:.0f} MB), external URLs: {links.urls or 'none'} -> {verdict}"
            )


if __name__ == "__main__":
    main()

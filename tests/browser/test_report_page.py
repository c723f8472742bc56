"""The report opened in headless Chromium: no console error, every section's figures drawn, a screenshot that
is not blank, hostile strings shown as text and never run, and the drawn points equal to the stored ones.

Debian's ``chromium`` package drives the page through Playwright (``.ci/run`` installs it when missing);
the tests skip, saying so, only when no Chromium can be found.
"""

import shutil
import struct
import zlib
from pathlib import Path

import pytest

from devicefit.app.report import report
from devicefit.report.html import build_sections, render_html
from tests.unit.report.recorded_store import HOSTILE, recorded_store

CHROMIUM = shutil.which("chromium") or next(
    (p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if Path(p).exists()), None
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium found: install Debian's chromium (apt-get install -y chromium)"
)
#: Headless, offline and quiet: no GPU, no network services, no first-run pages.
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: A tiny user model whose file lives under a hostile directory name.
TINY_MODEL = """
import torch
from torch import nn


def build(batch_size: int = 8):
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10)), torch.randn(batch_size, 64)
"""
#: A user catalog file renaming the T4: a catalog override with a hostile name.
CATALOG = """
[[devices]]
id = "nvidia-t4"
name = "T4 {hostile}"
"""


@pytest.fixture(scope="module")
def page_file(tmp_path_factory):
    """A report of the recorded run (twice: the second labelled with a hostile string), a validate run,
    and a hostile-path model predicted on this CPU and a hostile-named catalog T4."""
    folder = tmp_path_factory.mktemp("page")
    # Directory names cannot hold '/', so the hostile string spans three nested directories.
    model_dir = folder / "<script>alert(1)<" / "script>\"'<" / "div>"
    model_dir.mkdir(parents=True)
    (model_dir / "tiny.py").write_text(TINY_MODEL)
    model = f"{model_dir / 'tiny.py'}:build"
    assert "<script>alert(1)</script>\"'</div>" in model
    catalog = folder / "mine.toml"
    catalog.write_text(CATALOG.format(hostile=HOSTILE.replace('"', '\\"')))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEVICEFIT_CACHE_DIR", str(folder / "cache"))
        store, ids = recorded_store(folder / "runs.db")
        with store:
            content = report(
                store,
                [str(i) for i in ids],
                models=[model],
                devices="cpu,nvidia-t4",
                catalog_files=[catalog],
                command=f"devicefit report --model {model}",
            )
            runs = {i: store.load_run(i) for i in ids}
    path = folder / "report.html"
    path.write_text(render_html(content), encoding="utf-8")
    return path, content, runs


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def opened(browser, page_file):
    """The page loaded once, with what its console said and whether any dialog opened."""
    path, content, runs = page_file
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors, dialogs, requests = [], [], []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("request", lambda request: requests.append(request.url))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    yield page, content, runs, errors, dialogs, requests
    page.close()


def test_the_page_opens_without_console_errors_or_network(opened):
    _, _, _, errors, _, requests = opened
    assert errors == []
    assert [url for url in requests if not url.startswith("file:")] == []


def test_every_section_has_drawn_figures(opened):
    page, content, _, _, _, _ = opened
    drawn = page.evaluate(
        """() => Array.from(document.querySelectorAll('section')).map(section => [section.id,
            Array.from(section.querySelectorAll('.plot')).map(div => [
                div.classList.contains('js-plotly-plot') ? div.data.length : 0,
                div.querySelectorAll('.trace').length])])"""
    )
    expected = [s.id for s in build_sections(content)]
    assert [section for section, _ in drawn] == expected
    assert set(expected) == {"machine", "roofline", "scaling", "crossover", "across", "validation", "history"}
    for section, figures in drawn:
        assert figures, section
        for num_traces, num_drawn in figures:
            assert num_traces > 0 and num_drawn > 0, section


def test_every_bar_of_the_across_devices_figure_is_drawn(opened):
    page = opened[0]
    heights = page.evaluate(
        """() => Array.from(document.querySelectorAll('section#across .barlayer .trace')).map(trace =>
            Math.max(0, ...Array.from(trace.querySelectorAll('.point path'))
                .map(bar => bar.getBoundingClientRect().height)))"""
    )
    assert len(heights) == 3 and all(h > 0 for h in heights), heights  # time, per dollar, per joule


def _png_colours(png: bytes) -> set[bytes]:
    """The distinct pixels of an 8-bit RGB or RGBA PNG (what Chromium writes), decoded with zlib alone."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    position, data, header = 8, b"", None
    while position < len(png):
        (length,) = struct.unpack(">I", png[position : position + 4])
        kind, body = png[position + 4 : position + 8], png[position + 8 : position + 8 + length]
        header = body if kind == b"IHDR" else header
        data += body if kind == b"IDAT" else b""
        position += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6)
    size = 3 if colour == 2 else 4
    raw, stride, previous, colours = zlib.decompress(data), width * size, bytearray(width * size), set()
    for row in range(height):
        kind, line = (
            raw[row * (stride + 1)],
            bytearray(raw[row * (stride + 1) + 1 : (row + 1) * (stride + 1)]),
        )
        for i in range(stride):
            left = line[i - size] if i >= size else 0
            up, corner = previous[i], previous[i - size] if i >= size else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        colours.update(bytes(line[i : i + size]) for i in range(0, stride, size))
        previous = line
    return colours


def test_a_screenshot_of_a_figure_is_not_blank(opened):
    page = opened[0]
    shot = page.locator("section#roofline .plot").first.screenshot()
    assert len(_png_colours(shot)) > 10


def test_hostile_strings_are_shown_as_text_and_never_run(opened):
    page, _, _, _, dialogs, _ = opened
    assert dialogs == [], "a hostile string ran as a script"
    scripts = page.evaluate("() => Array.from(document.scripts).filter(s => !s.src).length")
    assert scripts == len(page.query_selector_all("script.figure-data")) + 2  # Plotly, and the drawing loop
    text = page.inner_text("body")
    assert HOSTILE.replace("<!--", "").rstrip() in text or "<script>alert(1)</script>" in text
    assert "<script>alert(1)</script>\"'</div>" in page.inner_text("footer")  # the model path
    labels = page.evaluate(
        "() => Array.from(document.querySelectorAll('.legendtext')).map(t => t.textContent)"
    )
    assert any("T4 <script>alert(1)</script>" in label for label in labels)  # the catalog override, as text
    assert page.query_selector_all("div > script:not(.figure-data)") == []


def test_the_drawn_points_equal_the_stored_results(opened):
    page, _, runs, _, _, _ = opened
    run_id, run = next(iter(runs.items()))
    drawn = page.evaluate(
        """id => document.getElementById(id).data.find(t => t.name === 'triad (measured)')""",
        f"plot-bandwidth-run{run_id}-cpu",
    )
    triads = sorted(
        (r.bytes_per_iteration, r.value, r.case_id)
        for r in run.results
        if r.benchmark == "triad" and r.status == "ok"
    )
    assert list(zip(drawn["x"], drawn["y"], strict=True)) == [(b, v) for b, v, _ in triads]
    assert [c for _, c in drawn["customdata"]] == [c for _, _, c in triads]
    assert {c[0] for c in drawn["customdata"]} == {str(run_id)}

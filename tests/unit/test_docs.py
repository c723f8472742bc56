"""The documentation stays true: its links resolve, its marked command samples print what the code prints.

A sample is marked by an HTML comment ``<!-- sample -->`` on the line before a fenced block whose lines
starting with ``$ devicefit ...`` are commands (``$ NAME=value devicefit ...`` sets a variable) and whose
other lines are the output expected from the command above them. The commands of one block run in order,
in process, on a fresh results database, from the repository root, at ``COLUMNS`` columns; the analysis
cache is shared by all samples, so a model is traced once. Only deterministic commands are marked: the
catalog, model analysis, predictions for catalog devices, the simulated GPU (``--device fake``).

What legitimately varies is normalized, on both sides, and nothing else:

- trailing spaces of each line (rich pads tables to their width) and blank lines at the end;
- timestamps (``2026-12-07 00:35:00``, ``2026-12-07T00:35:00+00:00``) become ``<time>``;
- the test's database path is shown as the default one on Linux, ``DOCUMENTED_DB``.

A line ``...`` alone in a sample stands for any number of lines, as in doctest.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from devicefit.cli import app

ROOT = Path(__file__).parents[2]
DOCUMENTS = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))
MARKER = "<!-- sample -->"
#: The width the samples are printed at.
COLUMNS = "100"
#: Where the samples say results were stored: the default database on Linux, for a user called "you".
DOCUMENTED_DB = "/home/you/.local/share/devicefit/devicefit.db"
#: The README is the front page; the rest belongs in docs/.
README_MAX_LINES = 200

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[+-]\d\d:\d\d)?")
# [text](target): inline links and images; reference definitions are not used in these documents.
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^\s*```")


@dataclass(frozen=True)
class Command:
    """One ``$ devicefit ...`` line of a sample and the output documented under it."""

    line: str
    env: dict[str, str]
    args: list[str]
    expected: list[str]


@dataclass(frozen=True)
class Sample:
    """A marked block: where it is, and its commands in order."""

    document: Path
    line_number: int
    commands: list[Command]

    @property
    def id(self) -> str:
        return f"{self.document.relative_to(ROOT)}:{self.line_number}"


def _parse_command(line: str) -> tuple[dict[str, str], list[str]]:
    words = shlex.split(line.removeprefix("$ "))
    env = {}
    while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    assert words and words[0] == "devicefit", f"a sample command must run devicefit: {line!r}"
    return env, words[1:]


def find_samples(document: Path) -> list[Sample]:
    """Every marked sample of one Markdown document."""
    lines = document.read_text().splitlines()
    samples = []
    for index, line in enumerate(lines):
        if line.strip() != MARKER:
            continue
        assert FENCE.match(lines[index + 1]), f"{document}:{index + 1}: {MARKER} must precede a ``` block"
        end = next(i for i in range(index + 2, len(lines)) if FENCE.match(lines[i]))
        body = lines[index + 2 : end]
        assert body and body[0].startswith("$ "), f"{document}:{index + 3}: a sample starts with '$ '"
        commands: list[Command] = []
        for text in body:
            if text.startswith("$ "):
                env, args = _parse_command(text)
                commands.append(Command(line=text, env=env, args=args, expected=[]))
            else:
                commands[-1].expected.append(text)
        samples.append(Sample(document=document, line_number=index + 3, commands=commands))
    return samples


def normalize(text: str, *, database: str | None = None) -> list[str]:
    """The lines of an output with what legitimately varies replaced (see the module docstring)."""
    if database:
        text = text.replace(database, DOCUMENTED_DB)
    lines = [TIMESTAMP.sub("<time>", line).rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def matches(expected: list[str], actual: list[str]) -> bool:
    """Whether ``actual`` is ``expected`` line for line, a ``...`` line standing for any lines."""
    pattern = "".join(r"(?:[^\n]*\n)*?" if line == "..." else re.escape(line) + r"\n" for line in expected)
    return re.fullmatch(pattern, "".join(line + "\n" for line in actual)) is not None


SAMPLES = [sample for document in DOCUMENTS for sample in find_samples(document)]


@pytest.fixture(scope="module")
def analysis_cache(tmp_path_factory):
    """One analysis cache for every sample, so that each model is traced once."""
    return tmp_path_factory.mktemp("analysis")


@pytest.mark.parametrize("sample", SAMPLES, ids=[sample.id for sample in SAMPLES])
def test_documented_sample_prints_what_the_code_prints(sample, analysis_cache, tmp_path_factory, monkeypatch):
    monkeypatch.chdir(ROOT)
    # A short path, so that a line naming it is not wrapped at COLUMNS.
    database = str(tmp_path_factory.mktemp("db") / "devicefit.db")
    runner = CliRunner()
    for command in sample.commands:
        env = {
            "COLUMNS": COLUMNS,
            "DEVICEFIT_DB": database,
            "DEVICEFIT_CACHE_DIR": str(analysis_cache),
            **command.env,
        }
        result = runner.invoke(app, command.args, env=env)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        expected = normalize("\n".join(command.expected))
        actual = normalize(result.output, database=database)
        assert matches(expected, actual), (
            f"{sample.id}: '{command.line}' now prints (update the sample if the change is meant):\n"
            + "\n".join(actual)
        )


def test_samples_are_found():
    documents = {sample.document.name for sample in SAMPLES}
    assert {"README.md", "commands.md"} <= documents


def _links(document: Path) -> list[str]:
    """The link targets of a document, outside fenced code blocks."""
    targets, in_code = [], False
    for line in document.read_text().splitlines():
        if FENCE.match(line):
            in_code = not in_code
        elif not in_code:
            targets += LINK.findall(re.sub(r"`[^`]*`", "", line))
    return targets


@pytest.mark.parametrize("document", DOCUMENTS, ids=[str(d.relative_to(ROOT)) for d in DOCUMENTS])
def test_every_relative_link_resolves_inside_the_repository(document):
    broken = []
    for target in _links(document):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # a URL, or an anchor on the same page
        path = (document.parent / target.partition("#")[0]).resolve()
        if not path.is_relative_to(ROOT) or not path.exists():
            broken.append(target)
    assert not broken, f"{document.relative_to(ROOT)} links to what is not in the repository: {broken}"


def test_readme_stays_a_front_page():
    num_lines = len((ROOT / "README.md").read_text().splitlines())
    assert num_lines <= README_MAX_LINES, f"README.md has {num_lines} lines; move detail to docs/"


def test_a_changed_line_fails_the_comparison_and_an_elision_spans_lines():
    assert matches(["a", "...", "d"], ["a", "b", "c", "d"])
    assert matches(["a", "...", "b"], ["a", "b"])
    assert not matches(["a", "b"], ["a", "c"])
    assert not matches(["a"], ["a", "extra"])


def test_normalization_touches_only_timestamps_trailing_space_and_the_database(tmp_path):
    output = "    1   2026-12-07 00:35:00   complete   \nstored as run 1 in /tmp/x/devicefit.db\n\n"
    assert normalize(output, database="/tmp/x/devicefit.db") == [
        "    1   <time>   complete",
        f"stored as run 1 in {DOCUMENTED_DB}",
    ]


def test_a_sample_block_is_parsed_into_commands_with_their_variables(tmp_path):
    document = tmp_path / "page.md"
    document.write_text(
        "text\n<!-- sample -->\n```\n$ devicefit models 'resnet*'\nout 1\n"
        "$ DEVICEFIT_DB=garbage devicefit history\nerror: ...\n```\n"
    )
    (sample,) = find_samples(document)
    first, second = sample.commands
    assert (first.args, first.env, first.expected) == (["models", "resnet*"], {}, ["out 1"])
    assert (second.args, second.env) == (["history"], {"DEVICEFIT_DB": "garbage"})

"""A disk cache of model analyses, so that a second ``predict`` or ``profile`` of a model skips the trace.

Tracing a model takes seconds and importing PyTorch alone takes one or more; the prediction that
follows takes a fraction of a second. An entry is one ``ModelCost``, keyed by everything the analysis
depends on: the model's source, its arguments, and the devicefit and PyTorch versions. This module
does not import torch: a hit never does.

Entries are JSON (``dataclasses.asdict``), read back through pydantic's ``TypeAdapter`` as the store
reads its records. JSON rather than pickle: reading an entry cannot run code, an entry written by
another version fails validation instead of building a half-matching object, and a person can read
one. Each file carries a format number and its full key; an entry that is unreadable, of another
format, of another key or invalid counts as a miss and is rewritten. Files are written to a temporary
name and renamed (``os.replace``), so a reader never sees half a file and concurrent writers of one
key leave one whole entry.

A model whose traces at two batch sizes pair up op by op (``analyze/derive.py``) also gets an
entry of its two traced costs, keyed without the batch size: it serves every batch from the smaller
traced one on by derivation (milliseconds, no torch), so a model traced once answers a sweep over
batch sizes. A batch below it is traced (a batch of one may run other operators), and the entry
whose smaller batch is lower is kept. A batch the entry serves gets no entry of its own.

What the key cannot see: for a user model, only the file (or module) that defines its factory is
hashed; an edit to another file it imports goes unnoticed (``--no-cache`` bypasses the cache).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import devicefit
from devicefit.data import CACHE_ENV, cache_path
from devicefit.records.vocabulary import TRACED_PRECISION

if TYPE_CHECKING:
    from pydantic import TypeAdapter

    from devicefit.analyze.derive import Anchors
    from devicefit.records import MemoryKind, ModelCost

#: The layout of an entry; raise it when ``ModelCost`` or the envelope changes shape.
FORMAT_VERSION = 2

#: The subpackages whose code decides a ``ModelCost``: an edit to any of them invalidates every entry,
#: even when the version number did not move (a development checkout).
ANALYSIS_PACKAGES = ("analyze", "records", "workloads")

#: Longest model-name prefix of an entry's file name: enough to recognise it in a listing.
NAME_PREFIX_CHARS = 40

Key = dict[str, Any]


def default_cache_dir() -> Path:
    """``analysis`` in devicefit's cache directory (``$DEVICEFIT_CACHE_DIR`` or the user cache directory)."""
    return cache_path("analysis")


def analysis_key(
    name: str,
    batch_size: int | None,
    *,
    precision: str,
    optimizer: str | None,
    sequence_length: int | None,
    memory_kind: MemoryKind,
    foreach: bool | None,
    channels_last: bool = False,
) -> Key | None:
    """Everything ``analyze_model`` depends on, or ``None`` when the model's source cannot be pinned down.

    The arguments are ``analyze_model``'s, as given (defaults unresolved: resolving them means
    building the model). A training step and an inference pass are both in every ``ModelCost``,
    so the mode is not part of the key: ``predict --train`` and ``--infer`` share an entry.
    ``precision`` is the one traced (``tf32`` shares fp32's entry, ``amp`` fp16's).
    """
    source = _model_source(name)
    if source is None:
        return None
    return {
        "model": name,
        "source": source,
        "batch_size": batch_size,
        "sequence_length": sequence_length,
        "precision": precision,
        "optimizer": optimizer,
        "memory_kind": memory_kind,
        "foreach": foreach,
        "channels_last": channels_last,
        "devicefit": devicefit.__version__,
        "devicefit_source": _devicefit_digest(),
        "torch": _version("torch"),
    }


def load_cost(key: Key, directory: Path) -> ModelCost | None:
    """The cached analysis of ``key``, or ``None`` when there is none or it cannot be used."""
    try:
        entry = json.loads(_entry_path(key, directory).read_bytes())
        if not isinstance(entry, dict) or entry.get("format") != FORMAT_VERSION or entry.get("key") != key:
            return None
        return _adapter().validate_python(entry["cost"])
    except (OSError, ValueError, TypeError, KeyError):
        # Missing, truncated, not JSON, or not a ModelCost (pydantic's ValidationError is a
        # ValueError): a miss; the caller analyzes again and overwrites the entry.
        return None


def store_cost(key: Key, cost: ModelCost, directory: Path) -> Path:
    """Writes ``cost`` as the entry of ``key``, atomically; returns its path.

    Raises:
        OSError: The directory cannot be created or written.
    """
    return _write(key, {"cost": dataclasses.asdict(cost)}, directory)


def _write(key: Key, content: dict[str, Any], directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = _entry_path(key, directory)
    text = json.dumps({"format": FORMAT_VERSION, "key": key, **content})
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=".partial-", suffix=".json")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def anchors_key(key: Key) -> Key:
    """The key of the entry that serves every batch size of ``key``'s analysis (``load_anchors``)."""
    return {**key, "batch_size": "derived"}


def load_anchors(key: Key, directory: Path) -> Anchors | None:
    """The two traced costs other batches of ``key`` derive from, or ``None`` (as ``load_cost``)."""
    path = _entry_path(anchors_key(key), directory)
    try:
        status = path.stat()
        return _read_anchors(path, status.st_mtime_ns, status.st_size, json.dumps(anchors_key(key)))
    except (OSError, ValueError, TypeError, KeyError):
        return None


@functools.lru_cache(maxsize=8)
def _read_anchors(path: Path, mtime_ns: int, size: int, key_text: str) -> Anchors | None:
    """Reads an anchors entry once per version of its file: a sweep over batches parses it once."""
    entry = json.loads(path.read_bytes())
    if (
        not isinstance(entry, dict)
        or entry.get("format") != FORMAT_VERSION
        or entry.get("key") != json.loads(key_text)
    ):
        return None
    low, high = (_adapter().validate_python(entry[name]) for name in ("low", "high"))
    return low, high


def store_anchors(key: Key, anchors: Anchors, directory: Path) -> Path:
    """Writes the entry that serves ``key`` at every batch from ``anchors[0].batch_size`` on.

    Raises:
        OSError: The directory cannot be created or written.
    """
    low, high = anchors
    entry = {"low": dataclasses.asdict(low), "high": dataclasses.asdict(high)}
    return _write(anchors_key(key), entry, directory)


def analyze_model_cached(
    name: str,
    batch_size: int | None = None,
    *,
    precision: str = "fp32",
    optimizer: str | None = None,
    sequence_length: int | None = None,
    memory_kind: MemoryKind = "cuda",
    foreach: bool | None = None,
    use_cache: bool = True,
    directory: Path | None = None,
    channels_last: bool = False,
) -> tuple[ModelCost, str | None]:
    """``analyze_model``, through the cache.

    Args:
        name: As ``analyze_model``.
        batch_size: As ``analyze_model``.
        precision: As ``analyze_model``.
        optimizer: As ``analyze_model``.
        sequence_length: As ``analyze_model``.
        memory_kind: As ``analyze_model``.
        foreach: As ``analyze_model``.
        channels_last: As ``analyze_model``.
        use_cache: ``False`` neither reads nor writes the cache.
        directory: The cache directory; ``default_cache_dir()`` when ``None``.

    Returns:
        The analysis (derived from another batch's traces where the model allows, ``derive_cost``),
        and a note when the cache could not be written (the analysis is still good).
        Precisions that share a trace share its entry (``TRACED_PRECISION``); the analysis names
        the precision asked for.

    Raises:
        UsageError: As ``analyze_model``.
    """
    arguments: dict[str, Any] = {
        "precision": TRACED_PRECISION.get(precision, precision),
        "optimizer": optimizer,
        "sequence_length": sequence_length,
        "memory_kind": memory_kind,
        "foreach": foreach,
        "channels_last": channels_last,
    }
    key = analysis_key(name, batch_size, **arguments) if use_cache else None
    where = directory or default_cache_dir()
    kept: Anchors | None = None
    if key is not None:
        cached = load_cost(key, where)
        if cached is not None:
            return dataclasses.replace(cached, precision=precision), None
        kept = load_anchors(key, where)
        derived = _derived(kept, batch_size, memory_kind)
        if derived is not None:
            return dataclasses.replace(derived, precision=precision), None
    from devicefit.analyze import cost as cost_model

    cost, anchors = cost_model.analyze_model_derivable(name, batch_size, **arguments)
    if key is None:
        return dataclasses.replace(cost, precision=precision), None
    try:
        if anchors is not None and (kept is None or anchors[0].batch_size < kept[0].batch_size):
            store_anchors(key, anchors, where)
            kept = anchors
        if _derived(kept, batch_size, memory_kind) is None:
            store_cost(key, cost, where)
    except OSError as error:
        return dataclasses.replace(cost, precision=precision), (
            f"could not write the analysis cache in {where} ({error.strerror or error}); "
            f"the next call traces again: set {CACHE_ENV} to a writable directory"
        )
    return dataclasses.replace(cost, precision=precision), None


def _derived(anchors: Anchors | None, batch_size: int | None, memory_kind: MemoryKind) -> ModelCost | None:
    """The cost at ``batch_size`` derived from ``anchors``, or ``None`` when they do not serve it."""
    if anchors is None or batch_size is None or batch_size < anchors[0].batch_size:
        return None
    from devicefit.analyze.derive import derive_cost

    try:
        return derive_cost(anchors, batch_size, memory_kind=memory_kind)
    except ValueError:
        return None


def _entry_path(key: Key, directory: Path) -> Path:
    """``<model name>-<sha256 of the key>.json``: the name for people, the digest for uniqueness."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    readable = re.sub(r"[^a-z0-9_.-]+", "_", str(key["model"]).lower())[-NAME_PREFIX_CHARS:].strip("._")
    return directory / f"{readable or 'model'}-{digest}.json"


@functools.cache
def _adapter() -> TypeAdapter[ModelCost]:
    from pydantic import TypeAdapter

    from devicefit.records import ModelCost

    return TypeAdapter(ModelCost)


@functools.cache
def _devicefit_digest() -> str:
    """SHA-256 of the source of the subpackages that decide an analysis (``ANALYSIS_PACKAGES``)."""
    root = Path(devicefit.__file__).parent
    digest = hashlib.sha256()
    for package in ANALYSIS_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@functools.cache
def _version(distribution: str) -> str | None:
    # Read once per process: each read scans the installed distributions (about 15 ms), and a
    # crossover keys one analysis per batch and memory kind.
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _model_source(name: str) -> dict[str, Any] | None:
    """What a model's definition depends on beyond devicefit, or ``None`` when that cannot be read.

    Conservative by construction, so that it needs no knowledge of which names are zoo names: the
    part before the last ``:`` (or a bare ``.py`` name) is hashed if it is a file, and hashed with its
    distribution's version if it is an importable module (``mymodels``, ``timm``, ``transformers``).
    A name that is neither (``resnet50``, ``decoder:width=...``) is the zoo's, which
    ``_devicefit_digest`` covers; if it is not, the analysis fails and nothing is cached.
    """
    stripped = name.strip()
    target, separator, _ = stripped.rpartition(":")
    if not separator:
        target = stripped if stripped.endswith(".py") else ""
    if not target:
        return {}
    if target.endswith(".py") or "/" in target or "\\" in target:
        path = Path(target).expanduser().resolve()
        try:
            return {"file": str(path), "sha256": _file_digest(path)}
        except OSError:
            return None
    try:
        spec = importlib.util.find_spec(target)
    except Exception:  # a parent package that fails to import: the analysis will say how
        return None
    if spec is None:
        return {}
    source: dict[str, Any] = {"module": target, "version": _version(target.partition(".")[0])}
    if spec.origin and Path(spec.origin).is_file():
        source["sha256"] = _file_digest(Path(spec.origin))
    return source

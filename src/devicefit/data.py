"""Reads the TOML data files shipped inside the package (catalog, CPU core table)."""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

TOMLDecodeError = tomllib.TOMLDecodeError


def load_packaged_toml(package: str, name: str) -> dict[str, Any]:
    """Parses ``name`` from ``package``'s installed data files."""
    return tomllib.loads(resources.files(package).joinpath(name).read_text(encoding="utf-8"))


def load_toml_file(path: Path) -> dict[str, Any]:
    """Parses a TOML file the user named; raises ``TOMLDecodeError`` or ``OSError``."""
    with path.open("rb") as file:
        return tomllib.load(file)

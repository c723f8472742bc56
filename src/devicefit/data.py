"""Where devicefit's files are: the TOML data shipped in the package (catalog, CPU cores), its cache."""

from __future__ import annotations

import os
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


#: Environment variable naming the cache directory (tests point it at a temporary one).
CACHE_ENV = "DEVICEFIT_CACHE_DIR"


def cache_path(name: str) -> Path:
    """The cache subdirectory ``name``: in ``$DEVICEFIT_CACHE_DIR``, else in the user cache directory."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser() / name
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("devicefit", appauthor=False)) / name

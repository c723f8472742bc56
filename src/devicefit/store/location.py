"""Where the results database lives: the user data directory, ``$DEVICEFIT_DB`` or ``--db``, checked."""

from __future__ import annotations

import os
import re
from pathlib import Path

from devicefit.errors import UsageError

#: Environment variable naming the database, overridden by ``--db``.
DB_ENV = "DEVICEFIT_DB"

#: Names a new database file may have. Any other name is more likely a slip (``DEVICEFIT_DB=garbage``
#: would otherwise create ``./garbage``) than a database; an existing file is taken whatever its name.
DB_SUFFIXES = (".db", ".sqlite", ".sqlite3")

#: The URL schemes of a PostgreSQL database, as libpq takes them.
POSTGRES_SCHEMES = ("postgresql", "postgres")


def is_postgres_url(text: str | Path) -> bool:
    """Whether ``text`` is a ``postgresql://`` (or ``postgres://``) URL."""
    return isinstance(text, str) and text.split("://", 1)[0].lower() in POSTGRES_SCHEMES and "://" in text


def check_db_path(text: str, *, source: str) -> Path | str:
    """Returns the database file that ``text`` names, or ``text`` itself when it is a PostgreSQL URL.

    Args:
        text: The path or URL as given.
        source: Where it came from, for the message (``--db``, ``DEVICEFIT_DB``).

    Raises:
        UsageError: If ``text`` is a URL of another database, a directory, or a new file without a
            database suffix.
    """
    if is_postgres_url(text):
        return text
    if re.match(r"[A-Za-z][A-Za-z0-9+.-]+://", text):
        raise UsageError(
            f"{source}={text.split('://', 1)[0]}://... is a URL of a database devicefit does not read",
            fix="Name a .db file (SQLite), or a postgresql:// URL",
        )
    path = Path(text).expanduser()
    if path.is_dir():
        raise UsageError(
            f"{source}={text} is a directory", fix=f"Name a file in it, such as {path / 'devicefit.db'}"
        )
    if not path.exists() and path.suffix.lower() not in DB_SUFFIXES:
        raise UsageError(
            f"{source}={text} is not a database file name",
            fix=f"Name a new database with a {', '.join(DB_SUFFIXES)} suffix, or an existing database file",
        )
    return path


def default_db_path() -> Path | str:
    """Returns the file or URL ``$DEVICEFIT_DB`` names, or ``devicefit.db`` in the user data directory.

    Raises:
        UsageError: If ``$DEVICEFIT_DB`` cannot name a database (see ``check_db_path``).
    """
    if os.environ.get(DB_ENV):
        return check_db_path(os.environ[DB_ENV], source=DB_ENV)
    import platformdirs

    return platformdirs.user_data_path("devicefit") / "devicefit.db"

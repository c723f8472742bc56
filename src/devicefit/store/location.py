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


def check_db_path(text: str, *, source: str) -> Path:
    """Returns the database file that ``text`` names.

    Args:
        text: The path as given.
        source: Where it came from, for the message (``--db``, ``DEVICEFIT_DB``).

    Raises:
        UsageError: If ``text`` is a URL, a directory, or a new file without a database suffix.
    """
    if re.match(r"[A-Za-z][A-Za-z0-9+.-]+://", text):
        raise UsageError(
            f"{source}={text} is a URL; this devicefit keeps runs in SQLite files only",
            fix="Name a .db file",
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


def default_db_path() -> Path:
    """Returns the file ``$DEVICEFIT_DB`` names, or ``devicefit.db`` in the user data directory.

    Raises:
        UsageError: If ``$DEVICEFIT_DB`` cannot name a database (see ``check_db_path``).
    """
    if os.environ.get(DB_ENV):
        return check_db_path(os.environ[DB_ENV], source=DB_ENV)
    import platformdirs

    return platformdirs.user_data_path("devicefit") / "devicefit.db"

"""A throwaway PostgreSQL server for the tests: a cluster initdb'd in a temporary folder on a free port.

The Debian ``postgresql`` package's binaries are used (``initdb`` and ``pg_ctl`` on the PATH, or under
``/usr/lib/postgresql/*/bin``). initdb refuses to run as root, so as root the cluster belongs to the
package's ``postgres`` user and the commands run through ``runuser``.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: Whom the cluster trusts; the tests connect as this role.
USER = "devicefit"


def find_binaries() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``, or ``None`` when PostgreSQL is not installed."""
    candidates = [shutil.which("initdb")]
    # Debian keeps them off the PATH, one folder per major version: the newest first.
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    for initdb in filter(None, candidates):
        folder = Path(initdb).resolve().parent
        if (folder / "pg_ctl").exists():
            return folder
    return None


def why_unavailable() -> str | None:
    """Why no server can be started here (the skip reason), or ``None`` when one can."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed: pip install -e '.[dev]' (or '.[postgres]')"
    if find_binaries() is None:
        return "PostgreSQL is not installed (no initdb): apt-get install postgresql"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root without a 'postgres' user for initdb: apt-get install postgresql"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_server() -> Iterator[str]:
    """Starts a server, yields the DSN of its ``postgres`` database, and stops it and removes its files."""
    binaries = find_binaries()
    assert binaries is not None, why_unavailable()
    folder = Path(tempfile.mkdtemp(prefix="devicefit-pg-"))
    as_owner: list[str] = []
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        as_owner = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", _free_port()

    def run(*command: str) -> None:
        # In the cluster's folder: the owner may not be allowed into the working directory (/root/...).
        subprocess.run([*as_owner, *command], check=True, capture_output=True, text=True, cwd=folder)

    run(str(binaries / "initdb"), "-D", str(data), "-U", USER, "--auth=trust", "--no-sync", "-E", "UTF8")
    # Durability is not under test (a killed client, not a killed server): no fsync, for speed.
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    run(str(binaries / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-o", options, "-w", "start")
    try:
        yield f"postgresql://{USER}@127.0.0.1:{port}/postgres"
    finally:
        run(str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def create_database(server_dsn: str) -> str:
    """Creates an empty database, named afresh, on the server and returns its DSN."""
    import psycopg

    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return server_dsn.rsplit("/", 1)[0] + "/" + name

"""A private PostgreSQL server for the store's tests: Debian's postgresql binaries, a fresh
cluster in a temporary folder, a Unix socket only (no TCP), stopped when done. Run as the
`postgres` user when the tests run as root (the server refuses root)."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} is not installed (Debian package postgresql; `make system-deps`)")
    return found[-1]


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    """Yields a postgresql:// URL of the running server's `postgres` database. The cluster
    lives in a folder of its own under the system's temporary folder (the server's user must
    reach it, and a Unix socket path is short), removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="nmspec-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", 5432
    run = lambda *argv: subprocess.run([*as_user, *argv], check=True, capture_output=True, timeout=120)
    run(_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "nmspec", "--no-sync")
    run(_bin("pg_ctl"), "-D", str(data), "-w", "-l", str(folder / "server.log"), "-o",
        f"-p {port} -k {folder} -c listen_addresses='' -c fsync=off", "start")
    try:
        yield f"postgresql://nmspec@/postgres?host={folder}&port={port}"
    finally:
        subprocess.run([*as_user, _bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], check=False,
                       capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


def fresh_database(url: str, name: str) -> str:
    """A new empty database on the server of `url`; its URL."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')
    return url.replace("/postgres?", f"/{name}?")

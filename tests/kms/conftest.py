"""A throwaway PostgreSQL cluster for the key store's PostgreSQL path.

When the server binaries are present (Debian's ``postgresql`` package: ``/usr/lib/postgresql/*/bin``, which
``.ci/run`` installs), ``initdb`` makes a cluster in a temporary folder, ``pg_ctl`` starts it on a Unix
socket there (no TCP port), and the fixture yields a SQLAlchemy URL; the cluster is stopped and removed
afterwards. PostgreSQL refuses to run as root, so as root the commands run as the ``postgres`` user.
Without the binaries the tests that need the server are skipped locally and fail when ``CI`` is set.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


def _run(bin_dir: Path, user: str | None, *args: str) -> None:
    command = [str(bin_dir / args[0]), *args[1:]]
    if user is not None:
        command = ["runuser", "-u", user, "--", *command]
    subprocess.run(command, check=True, capture_output=True, timeout=120)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A SQLAlchemy URL of an empty database on a throwaway PostgreSQL cluster."""
    bin_dir = _binaries()
    if bin_dir is None:
        message = "PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    folder = Path(tempfile.mkdtemp(prefix="qinternet-pg-"))
    user = "postgres" if os.geteuid() == 0 else None
    if user is not None:
        shutil.chown(folder, user=user)
    data, socket_dir = folder / "data", folder
    try:
        _run(bin_dir, user, "initdb", "-D", str(data), "-A", "trust", "-U", "qinternet", "--no-sync")
        _run(
            bin_dir,
            user,
            "pg_ctl",
            "-D",
            str(data),
            "-w",
            "-o",
            f"-k {socket_dir} -c listen_addresses='' -c fsync=off",
            "-l",
            str(folder / "log"),
            "start",
        )
        _run(bin_dir, user, "createdb", "-h", str(socket_dir), "-U", "qinternet", "kms")
        yield f"postgresql+psycopg://qinternet@/kms?host={socket_dir}"
    finally:
        subprocess.run(
            [
                *(["runuser", "-u", user, "--"] if user else []),
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-m",
                "fast",
                "stop",
            ],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def fresh_postgres_url(postgres_url: str) -> str:
    """A new, empty database on the throwaway cluster (for a test whose server process owns the schema)."""
    import psycopg  # the driver of the URL above

    name = f"kms_{uuid.uuid4().hex[:12]}"
    base = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(base, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return postgres_url.replace("/kms?", f"/{name}?")

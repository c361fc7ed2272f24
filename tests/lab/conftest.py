"""Fixtures of the lab's tests: a throwaway PostgreSQL cluster for the store's second back end."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Callable

import pytest


@pytest.fixture(scope="session")
def postgres_admin_url():
    """A throwaway PostgreSQL cluster (Debian's postgresql) on a free local port: its admin URL; stopped afterwards."""
    initdbs = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not initdbs:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    bin_dir = initdbs[-1].parent
    root = Path(tempfile.mkdtemp(prefix="resnet_lab_pg_"))
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []  # the server refuses to run as root
    if as_postgres:
        shutil.chown(root, "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = root / "data"
    subprocess.run([*as_postgres, bin_dir / "initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"],
                   check=True, capture_output=True)
    subprocess.run([*as_postgres, bin_dir / "pg_ctl", "-D", data, "-l", root / "log", "-w", "start", "-o",
                    f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"], check=True, capture_output=True)
    yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    subprocess.run([*as_postgres, bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_database(postgres_admin_url) -> Callable[[], str]:
    """``postgres_database()``: the URL of a new, empty database in the throwaway cluster."""
    psycopg = pytest.importorskip("psycopg")

    def create() -> str:
        database = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(postgres_admin_url, autocommit=True) as con:
            con.execute(f"CREATE DATABASE {database}")
        return postgres_admin_url.rsplit("/", 1)[0] + f"/{database}"

    return create

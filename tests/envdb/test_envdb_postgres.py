"""The PostgreSQL path of the environment database, against a real throwaway server.

The server is started with Debian's ``initdb``/``pg_ctl`` in a temporary folder (as the
``postgres`` user via ``runuser`` when the tests run as root); the test skips, saying why,
where no server can be started or the client packages are missing.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile

import numpy as np
import pytest

from metalegnet.envdb import EnvDB, EnvdbConfig, QualityConfig, build_envdb, load_templates
from tests.envdb.helpers import co_structures
from tests.seam.helpers import tiny_model


def _pg_bin() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return os.path.dirname(found[-1])
    exe = shutil.which("pg_ctl")
    return os.path.dirname(exe) if exe else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def pg_url():
    pytest.importorskip("psycopg2", reason="PostgreSQL client psycopg2 is not installed")
    pytest.importorskip("ase_db_backends",
                        reason="ase.db's PostgreSQL backend (ase-db-backends) is not installed")
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries (initdb/pg_ctl) on this machine")
    root = os.geteuid() == 0
    prefix: list[str] = []
    if root:
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: cannot start PostgreSQL")
        prefix = ["runuser", "-u", "postgres", "--"]
    tmp = tempfile.mkdtemp(prefix="metalegnet-pg-")
    if root:
        shutil.chown(tmp, "postgres")
    data, port = os.path.join(tmp, "data"), _free_port()
    try:
        subprocess.run(prefix + [f"{bindir}/initdb", "-D", data, "-A", "trust", "-U",
                                 "postgres"], check=True, capture_output=True, timeout=120)
        subprocess.run(prefix + [f"{bindir}/pg_ctl", "-D", data, "-l",
                                 os.path.join(tmp, "log"), "-w", "-o",
                                 f"-p {port} -k {tmp} -c listen_addresses=localhost",
                                 "start"], check=True, capture_output=True, timeout=120)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        pytest.skip(f"could not start a PostgreSQL server: {exc}")
    yield f"postgresql://postgres@localhost:{port}/postgres"
    subprocess.run(prefix + [f"{bindir}/pg_ctl", "-D", data, "-m", "fast", "stop"],
                   capture_output=True, timeout=120)
    shutil.rmtree(tmp, ignore_errors=True)


def test_postgres_round_trip_and_resume(pg_url, tmp_path):
    model, structures = tiny_model(), co_structures(1)
    index = str(tmp_path / "pg.faiss")
    config = EnvdbConfig(chunk=2, quality=QualityConfig(mode="none"))
    report = build_envdb(model, structures, pg_url, config, checkpoint="tiny.pt",
                         index_file=index)
    assert report.new == len(structures) and os.path.exists(index)
    sqlite = str(tmp_path / "same.db")
    build_envdb(model, structures, sqlite, config, checkpoint="tiny.pt")
    pg, lite = EnvDB(pg_url), EnvDB(sqlite)
    assert pg.metadata["checkpoint"] == "tiny.pt"
    for a, b in zip(sorted(pg.rows(), key=lambda r: r.key),
                    sorted(lite.rows(), key=lambda r: r.key)):
        assert a.key == b.key and a.site_label == b.site_label and a.tier == b.tier
        assert np.allclose(a.positions, b.positions)
        assert np.allclose(a.data["vector"], b.data["vector"])
    assert len(load_templates(pg_url)) == len(structures)
    again = build_envdb(model, structures, pg_url, config, index_file=index)
    assert again.already_in == len(structures) and again.new == 0

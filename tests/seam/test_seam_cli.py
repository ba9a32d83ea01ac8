"""``metalegnet envdb build | query`` and ``metalegnet seam`` end to end on tiny inputs."""

from __future__ import annotations

import csv

import ase.io
import numpy as np

from metalegnet.checkpoint import save_checkpoint
from metalegnet.cli import main
from metalegnet.envdb.site_prior import LABELS
from tests.envdb.helpers import co_structures
from tests.seam.helpers import alloy_slab, tiny_model


def _inputs(tmp_path):
    ckpt = tmp_path / "tiny.pt"
    save_checkpoint(ckpt, tiny_model(), "legnet")
    data = tmp_path / "data.extxyz"
    ase.io.write(data, co_structures())
    slab = tmp_path / "slab.extxyz"
    clean = alloy_slab(5, size=(2, 2, 3), n_pt=4)
    clean.info.pop("adsorbate_info", None)
    ase.io.write(slab, clean)
    return str(ckpt), str(data), str(slab)


def test_envdb_build_query_and_seam_cli(tmp_path, capsys):
    ckpt, data, slab = _inputs(tmp_path)
    db = str(tmp_path / "env.db")
    assert main(["envdb", "build", ckpt, "--data", data, "-o", db, "--quality", "none",
                 "--chunk", "3"]) == 0
    assert "environments" in capsys.readouterr().out
    assert main(["envdb", "query", db, "--like", data, "-k", "2"]) == 0
    assert "sim" in capsys.readouterr().out
    out = tmp_path / "seam"
    assert main(["seam", slab, "--adsorbate", "CO", "--envdb", db, "--top-k", "3",
                 "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "E_pred" in printed  # the database's own checkpoint ranks the poses
    frames = ase.io.read(out / "proposals.extxyz", ":")
    rows = list(csv.DictReader(open(out / "proposals.csv")))
    assert 1 <= len(frames) == len(rows) <= 3
    clean = ase.io.read(slab)
    for k, (atoms, row) in enumerate(zip(frames, rows), start=1):
        assert atoms.info["rank"] == k == int(row["rank"])
        assert np.isclose(atoms.info["score"], float(row["score"]), atol=1e-3)
        assert row["site_label"].removesuffix("-step") in LABELS
        assert atoms.info["site_label"] == row["site_label"]
        assert (atoms.get_tags()[len(clean):] == 2).all()
        assert atoms.get_chemical_symbols()[: len(clean)] == clean.get_chemical_symbols()
    scores = [a.info["score"] for a in frames]
    assert scores == sorted(scores)


def test_seam_cli_relax_with_emt(tmp_path, capsys):
    ckpt, data, slab = _inputs(tmp_path)
    db = str(tmp_path / "env.db")
    assert main(["envdb", "build", ckpt, "--data", data, "-o", db, "--quality",
                 "none"]) == 0
    out = tmp_path / "seam"
    assert main(["seam", slab, "--adsorbate", "CO", "--envdb", db, "--top-k", "2", "-o",
                 str(out), "--relax", "--calculator", "emt", "--steps", "5"]) == 0
    relaxed = ase.io.read(out / "relaxed.extxyz", ":")
    rows = list(csv.DictReader(open(out / "proposals.csv")))
    assert len(relaxed) == len(rows) and all(r["relaxed_energy"] for r in rows)


def test_cli_errors_are_one_line(tmp_path, capsys):
    _, _, slab = _inputs(tmp_path)
    assert main(["seam", slab, "--adsorbate", "CO", "--envdb", str(tmp_path / "no.db"),
                 "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such environment database" in err
    assert main(["seam", slab, "--adsorbate", "XYZ", "--envdb", str(tmp_path / "no.db"),
                 "-o", str(tmp_path / "o")]) == 2


def test_seam_cli_relax_with_the_metalegnet_calculator(tmp_path, capsys):
    ckpt, data, slab = _inputs(tmp_path)
    db = str(tmp_path / "env.db")
    assert main(["envdb", "build", ckpt, "--data", data, "-o", db, "--quality",
                 "none"]) == 0
    out = tmp_path / "seam"
    assert main(["seam", slab, "--adsorbate", "O", "--envdb", db, "--checkpoint", ckpt,
                 "--top-k", "1", "-o", str(out), "--relax", "--steps", "2"]) == 0
    (relaxed,) = ase.io.read(out / "relaxed.extxyz", ":")
    assert "relaxed_energy" in relaxed.info and "E_relaxed" in capsys.readouterr().out

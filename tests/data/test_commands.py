"""``metalegnet data info`` / ``convert`` as a user runs them."""

from __future__ import annotations

from ase.build import fcc111

from metalegnet.cli import main
from metalegnet.data import format_summary, load, summarize, write_extxyz_atomic


def test_info_on_an_embedded_set(capsys):
    assert main(["data", "info", "oc20-mini"]) == 0
    out = capsys.readouterr().out
    assert "structures      5296 in 31 file(s)" in out
    assert "trajectories    31 sid(s)" in out
    assert "total energy (eV)" in out and "|force| per atom (eV/Å)" in out


def test_convert_then_info_on_the_store(tmp_path, capsys):
    dst = tmp_path / "pdn.lmdb"
    assert main(["data", "convert", "pdn-ceria", str(dst)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote 69 structures to {dst}"
    assert main(["data", "info", str(dst), "--validate"]) == 0
    out = capsys.readouterr().out
    assert "structures      69 in 1 file(s)" in out
    assert "adsorption energy (eV)" in out and "all structures passed validation" in out


def test_bad_file_is_one_line_on_stderr_and_exit_2(tmp_path, capsys):
    bad = fcc111("Cu", (2, 2, 2), vacuum=5.0)
    bad.positions[2, 0] = float("nan")
    src = write_extxyz_atomic(tmp_path / "bad.extxyz", [bad])
    assert main(["data", "convert", str(src), str(tmp_path / "out.lmdb")]) == 2
    err = capsys.readouterr().err
    assert err == (f"metalegnet: error: {src} [index 0, sid=bad_0]: "
                   "NaN or inf in positions of 1 atom(s) (first: atom 2)\n")
    assert not (tmp_path / "out.lmdb").exists()


def test_missing_source_is_one_line(tmp_path, capsys):
    assert main(["data", "info", str(tmp_path / "none.extxyz")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "none.extxyz: no such file, folder or embedded data set" in err


def test_summary_values():
    d = summarize(load("mamun-subset"))
    assert d["structures"] == 31 and d["sids"] == 31
    assert d["labels"]["force_norm"] is None
    assert d["labels"]["e_ads"]["count"] == 31
    assert set(d["elements"]) >= {"Cu", "Ag", "Au", "Pd", "Pt", "H"}
    assert d["pbc"] == {"TTT": 31}
    text = format_summary(d)
    assert "|force| per atom (eV/Å)   none" in text

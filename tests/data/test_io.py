"""Reading structures from files, folders, globs, trajectories, databases and names."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import fcc111
from ase.calculators.singlepoint import SinglePointCalculator
from ase.constraints import FixAtoms

from metalegnet.data import read_structures, write_extxyz_atomic
from metalegnet.errors import DataError


def slab(energy: float = -1.5, sid: str | None = None):
    atoms = fcc111("Cu", (2, 2, 2), vacuum=5.0)
    atoms.set_tags([0, 0, 0, 0, 1, 1, 1, 1])
    atoms.set_constraint(FixAtoms(indices=[0, 1, 2, 3]))
    forces = np.arange(len(atoms) * 3, dtype=float).reshape(-1, 3) * 0.01
    atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
    if sid is not None:
        atoms.info["sid"] = sid
    return atoms


@pytest.mark.parametrize("name", ["a.extxyz", "a.extxyz.xz", "a.extxyz.gz"])
def test_extxyz_round_trip_keeps_labels_tags_and_fixed(tmp_path, name):
    frames = [slab(-1.0), slab(-2.0)]
    path = write_extxyz_atomic(tmp_path / name, frames)
    back = read_structures(path)
    assert len(back) == 2
    for k, (a, b) in enumerate(zip(frames, back)):
        np.testing.assert_allclose(b.positions, a.positions, atol=1e-8)
        assert b.get_potential_energy() == pytest.approx(a.get_potential_energy())
        np.testing.assert_allclose(b.get_forces(), a.get_forces(), atol=1e-8)
        assert list(b.get_tags()) == list(a.get_tags())
        assert isinstance(b.constraints[0], FixAtoms)
        assert sorted(b.constraints[0].get_indices()) == [0, 1, 2, 3]
        assert b.info["source"] == str(path)
        assert b.info["index"] == k
        assert b.info["sid"] == f"a_{k}"  # no sid in the file: stem + index
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_sid_from_file_is_a_string_and_kept(tmp_path):
    a, b = slab(sid="x"), slab()
    a.info["sid"], b.info["sid"] = "run7", 17914
    write_extxyz_atomic(tmp_path / "s.extxyz", [a, b])
    back = read_structures(tmp_path / "s.extxyz")
    assert [x.info["sid"] for x in back] == ["run7", "17914"]


def test_traj_frames_share_the_file_stem_as_sid(tmp_path):
    import ase.io

    ase.io.write(tmp_path / "relax.traj", [slab(-1.0), slab(-2.0), slab(-3.0)])
    back = read_structures(tmp_path / "relax.traj")
    assert [a.info["sid"] for a in back] == ["relax"] * 3
    assert [a.info["fid"] for a in back] == [0, 1, 2]
    assert back[-1].get_potential_energy() == pytest.approx(-3.0)


def test_ase_db_keeps_key_value_pairs(tmp_path):
    import ase.db

    with ase.db.connect(tmp_path / "s.db") as db:
        db.write(slab(-1.0), sid="abc", e_ads=0.25)
        db.write(slab(-2.0))
    back = read_structures(tmp_path / "s.db")
    assert back[0].info["sid"] == "abc" and back[0].info["e_ads"] == pytest.approx(0.25)
    assert back[1].info["sid"] == "s_1"
    assert back[1].get_potential_energy() == pytest.approx(-2.0)


def test_folder_and_glob_read_sorted_files_and_skip_others(tmp_path):
    write_extxyz_atomic(tmp_path / "b.extxyz", [slab(-2.0)])
    write_extxyz_atomic(tmp_path / "a.extxyz", [slab(-1.0), slab(-1.5)])
    (tmp_path / "README.md").write_text("# not a structure (ASE would guess CASTEP)\n")
    (tmp_path / "run.log").write_text("not a structure (ASE would guess Gaussian)\n")
    (tmp_path / "table.json").write_text('{"not": "an ASE database"}')
    folder = read_structures(tmp_path)
    assert [a.info["sid"] for a in folder] == ["a_0", "a_1", "b_0"]
    globbed = read_structures(str(tmp_path / "*.extxyz"))
    assert [a.info["sid"] for a in globbed] == ["a_0", "a_1", "b_0"]


def test_index_applies_within_each_file(tmp_path):
    write_extxyz_atomic(tmp_path / "a.extxyz", [slab(-1.0), slab(-1.5)])
    write_extxyz_atomic(tmp_path / "b.extxyz", [slab(-2.0), slab(-2.5), slab(-3.0)])
    last = read_structures(tmp_path, index="-1")
    assert [a.get_potential_energy() for a in last] == pytest.approx([-1.5, -3.0])
    assert [a.info["index"] for a in last] == [1, 2]  # index within the file, not the list
    with pytest.raises(DataError, match=r"a\.extxyz: index 5 out of range \(2 structures\)"):
        read_structures(tmp_path / "a.extxyz", index=5)


def test_embedded_name_is_a_source():
    frames = read_structures("pdn-ceria")
    assert len(frames) == 69
    assert frames[0].info["source"].endswith("pdn_ceria_single_co.extxyz")


def test_missing_source_is_one_clear_error(tmp_path):
    missing = tmp_path / "nope.extxyz"
    with pytest.raises(DataError) as err:
        read_structures(missing)
    assert str(err.value).startswith(f"{missing}: no such file, folder or embedded data set")
    assert "oc20-mini" in str(err.value)


def test_unreadable_files_name_the_file_and_the_reason(tmp_path):
    (tmp_path / "qq.extxyz").write_text('2\npbc="F F F"\nQq 0 0 0\nH 1 0 0\n')
    with pytest.raises(DataError) as err:
        read_structures(tmp_path / "qq.extxyz")
    assert str(err.value) == (f"{tmp_path / 'qq.extxyz'}: cannot read as extxyz: "
                              "unknown element symbol or key 'Qq'")
    (tmp_path / "short.extxyz").write_text('3\npbc="F F F"\nH 0 0 0\nH 1 0 0\n')
    with pytest.raises(DataError, match=r"short\.extxyz: cannot read as extxyz: .*2 atoms"):
        read_structures(tmp_path / "short.extxyz")


def test_failed_atomic_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = write_extxyz_atomic(tmp_path / "keep.extxyz", [slab(-1.0)])
    before = path.read_bytes()

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr("metalegnet.data.io.os.replace", crash)
    with pytest.raises(OSError, match="disk full"):
        write_extxyz_atomic(path, [slab(-2.0)])
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.extxyz"]


def test_extxyz_info_strings_stay_strings(tmp_path):
    """extxyz writes the string 'F' and the bool False alike; element-like text keys and
    keys that hold text in other frames come back as written, real flags as bools."""
    frames = []
    for ads, site in (("F", "T"), ("O", "fcc"), ("T", "True")):
        atoms = slab()
        atoms.info.update(adsorbate=ads, site=site, label=ads, converged=True, flagged=False)
        frames.append(atoms)
    frames[0].info["label"] = "True"
    back = read_structures(write_extxyz_atomic(tmp_path / "ads.extxyz", frames))
    assert [a.info["adsorbate"] for a in back] == ["F", "O", "T"]
    assert [a.info["site"] for a in back] == ["T", "fcc", "True"]
    assert [a.info["label"] for a in back] == ["True", "O", "T"]  # text in frame 1
    assert all(a.info["converged"] is True and a.info["flagged"] is False for a in back)
    assert list(back[0].pbc) == [True, True, False]


def test_embedded_string_keys_hold_no_bools():
    from collections import Counter

    from metalegnet.data import available, load

    for name in available():
        frames = load(name)
        text_keys = {k for a in frames for k, v in a.info.items() if isinstance(v, str)}
        for atoms in frames:
            bools = [k for k in text_keys if isinstance(atoms.info.get(k), (bool, np.bool_))]
            assert not bools, (name, atoms.info["sid"], bools)
        if name == "xu-kitchin":
            adsorbates = Counter(a.info["adsorbate"] for a in frames)
            assert adsorbates["F"] == 138 and False not in adsorbates

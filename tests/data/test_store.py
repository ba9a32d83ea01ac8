"""LMDB store: convert -> read back equal; atomic; lazy per-process opening."""

from __future__ import annotations

import multiprocessing
import pickle

import numpy as np
import pytest
from ase.build import fcc111

from metalegnet.data import LmdbStructures, convert, load, read_structures, write_extxyz_atomic
from metalegnet.errors import DataError


def assert_same(a, b):
    np.testing.assert_array_equal(b.numbers, a.numbers)
    np.testing.assert_array_equal(b.positions, a.positions)
    np.testing.assert_array_equal(b.cell.array, a.cell.array)
    assert list(b.pbc) == list(a.pbc)
    assert list(b.get_tags()) == list(a.get_tags())
    ra, rb = a.calc.results, b.calc.results
    assert rb["energy"] == ra["energy"]
    np.testing.assert_array_equal(rb["forces"], ra["forces"])


def test_convert_and_read_back_equal(tmp_path):
    frames = load("c3-cu111")[:5] + load("oc22-mini")[:3]
    src = write_extxyz_atomic(tmp_path / "src.extxyz", frames)
    original = read_structures(src)
    dst = tmp_path / "set.lmdb"
    assert convert(src, dst) == 8
    store = LmdbStructures(dst)
    assert len(store) == 8
    assert set(store.meta["elements"]) == {s for a in original for s in a.get_chemical_symbols()}
    for k, (a, b) in enumerate(zip(original, store)):
        assert_same(a, b)
        fixed_a = a.constraints[0].get_indices() if a.constraints else []
        fixed_b = b.constraints[0].get_indices() if b.constraints else []
        assert sorted(fixed_a) == sorted(fixed_b)
        assert b.info["sid"] == a.info["sid"]
        assert b.info["source"] == str(dst) and b.info["index"] == k
        assert b.info["origin_source"] == str(src) and b.info["origin_index"] == k
    assert store[0].info["eads_real"] == pytest.approx(original[0].info["eads_real"])
    assert store[6].info["fid"] == original[6].info["fid"]
    assert len(store[-2:]) == 2


def test_read_structures_accepts_a_store_and_an_index(tmp_path):
    dst = tmp_path / "pdn.lmdb"
    convert("pdn-ceria", dst)
    frames = read_structures(dst, index="::10")
    assert len(frames) == 7
    assert frames[1].info["e_ads"] == pytest.approx(load("pdn-ceria")[10].info["e_ads"])
    assert frames[0].calc is None  # pdn-ceria has no energy or forces


def test_store_pickles_and_shares_one_handle_per_process(tmp_path):
    dst = tmp_path / "s.lmdb"
    convert("oc22-mini", dst)
    store = LmdbStructures(dst)
    first = store[0]  # opens the environment in this process
    clone = pickle.loads(pickle.dumps(store))
    assert_same(first, clone[0])
    assert_same(first, LmdbStructures(dst)[0])  # a second store on the same files


def test_store_reads_in_a_forked_child(tmp_path):
    dst = tmp_path / "s.lmdb"
    convert("oc22-mini", dst)
    store = LmdbStructures(dst)
    expected = store[3].get_potential_energy()  # the parent holds the environment open
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        assert pool.apply(_energy_of, (store, 3)) == expected
    assert store[3].get_potential_energy() == expected  # parent handle still works


def _energy_of(store, i):
    return store[i].get_potential_energy()


def test_bad_structure_aborts_and_leaves_nothing(tmp_path):
    bad = fcc111("Cu", (2, 2, 2), vacuum=5.0)
    bad.positions[3] = bad.positions[0]
    src = write_extxyz_atomic(tmp_path / "bad.extxyz", [fcc111("Cu", (2, 2, 2), vacuum=5.0),
                                                      bad])
    dst = tmp_path / "out.lmdb"
    with pytest.raises(DataError, match=r"bad\.extxyz \[index 1, sid=bad_1\]: atoms 0 and 3"):
        convert(src, dst)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.extxyz"]


def test_existing_destination_needs_overwrite(tmp_path):
    dst = tmp_path / "s.lmdb"
    convert("mamun-subset", dst)
    with pytest.raises(DataError, match="already exists"):
        convert("pdn-ceria", dst)
    assert convert("pdn-ceria", dst, overwrite=True) == 69
    assert len(LmdbStructures(dst)) == 69
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.lmdb"]

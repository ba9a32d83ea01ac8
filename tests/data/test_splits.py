"""Splits by trajectory / system: disjoint groups, deterministic, saved and re-used."""

from __future__ import annotations

import pytest
from ase import Atoms

from metalegnet.data import (
    apply_split,
    load,
    load_or_make_split,
    load_split,
    save_split,
    split_by_group,
)
from metalegnet.data.splits import PARTS
from metalegnet.errors import ConfigError, DataError


def sids_of(frames, split, part):
    return {frames[i].info["sid"] for i in split.indices(part)}


def test_oc20_split_never_shares_a_trajectory():
    frames = load("oc20-mini")
    split = split_by_group(frames, seed=1)
    train, val, test = (sids_of(frames, split, p) for p in PARTS)
    assert not (train & val or train & test or val & test)
    assert (len(train), len(val), len(test)) == (25, 3, 3)
    all_idx = sorted(split.train_idx + split.val_idx + split.test_idx)
    assert all_idx == list(range(len(frames)))  # every frame in exactly one part
    assert set(split.train) == train


def test_same_seed_same_split_whatever_the_order():
    frames = load("oc20-mini", index="0")
    a = split_by_group(frames, seed=7)
    b = split_by_group(frames[::-1], seed=7)
    assert (a.train, a.val, a.test) == (b.train, b.val, b.test)
    c = split_by_group(frames, seed=8)
    assert (a.train, a.val, a.test) != (c.train, c.val, c.test)


def test_split_by_several_keys_keeps_systems_together():
    frames = load("xu-kitchin")
    split = split_by_group(frames, key=("metal", "adsorbate"), seed=0)
    parts = [{(frames[i].info["metal"], frames[i].info["adsorbate"])
              for i in split.indices(p)} for p in PARTS]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert len(set.union(*parts)) == 7 * 8  # 7 metals x 8 adsorbates
    assert "Pt|O" in split.train + split.val + split.test


def test_three_groups_give_one_each():
    frames = [Atoms("H", info={"sid": s}) for s in "abcabc"]
    split = split_by_group(frames, fractions=(0.8, 0.1, 0.1))
    assert (len(split.train), len(split.val), len(split.test)) == (1, 1, 1)
    assert len(split.train_idx) == 2


def test_json_round_trip_and_reuse(tmp_path):
    frames = load("oc20-mini", index="0")
    split = split_by_group(frames, seed=3)
    path = save_split(split, tmp_path / "split.json")
    back = load_split(path)
    assert back == split
    reordered = frames[::-1]
    reused = apply_split(load_split(path), reordered)
    assert reused.train == split.train
    assert {reordered[i].info["sid"] for i in reused.test_idx} == set(split.test)
    again = load_or_make_split(frames, path, seed=99)  # the saved split wins over the seed
    assert again.test == split.test
    fresh = load_or_make_split(frames, tmp_path / "new.json", seed=3)
    assert fresh.test == split.test and (tmp_path / "new.json").is_file()


def test_group_missing_from_saved_split(tmp_path):
    frames = load("oc20-mini", index="0")
    path = save_split(split_by_group(frames[:10]), tmp_path / "s.json")
    with pytest.raises(DataError, match=r"sid=random1000141\]: group 'random1000141' is not "
                                        r"in the saved split"):
        apply_split(load_split(path), frames)


def test_bad_fractions_and_missing_key():
    frames = load("pdn-ceria")
    with pytest.raises(ConfigError, match="summing to 1"):
        split_by_group(frames, fractions=(0.5, 0.1, 0.1))
    with pytest.raises(DataError, match=r"\[index 0, sid=pdn_ceria_single_co_0\]: missing info "
                                        r"key 'metal'"):
        split_by_group(frames, key="metal")


def test_test_where_fixes_an_out_of_domain_test_split():
    from ase import Atoms

    from metalegnet.data.splits import split_by_group
    from metalegnet.errors import ConfigError

    frames = []
    for surface in ("Pt", "Ru", "Cu", "Ag", "CuCo", "PdRh"):
        for ads in ("C", "O", "CO"):
            a = Atoms("H")
            a.info.update(surface=surface, adsorbate=ads, sid=f"{surface}-{ads}")
            frames.append(a)
    split = split_by_group(frames, ["surface", "adsorbate"], (0.8, 0.1, 0.1), seed=3,
                           test_where={"surface": ["CuCo", "PdRh"]})
    test = {frames[i].info["surface"] for i in split.test_idx}
    assert test == {"CuCo", "PdRh"} and len(split.test_idx) == 6
    rest = {frames[i].info["surface"] for i in split.train_idx + split.val_idx}
    assert not rest & {"CuCo", "PdRh"} and split.val_idx and split.train_idx
    with pytest.raises(ConfigError, match="cuts group"):
        split_by_group(frames, ["adsorbate"], test_where={"surface": ["CuCo"]})
    with pytest.raises(ConfigError, match="matches no group"):
        split_by_group(frames, ["surface"], test_where={"surface": ["Au"]})


def _surfaces(*names):
    """One structure per surface: element symbols from the name (``"PtRh"`` -> Pt, Rh)."""
    import re

    return [Atoms("".join(re.findall(r"[A-Z][a-z]?", n)), info={"surface": n}) for n in names]


def test_seen_elements_keeps_unique_elements_in_training():
    frames = _surfaces("Pt", "Rh", "PtRh", "Cu", "Ag", "AgCu", "Co", "Fe", "PdIr", "Pd", "Ir")
    unique = {"Co", "Fe"}  # their only group: never held out
    for seed in range(12):
        plain = split_by_group(frames, "surface", (0.6, 0.2, 0.2), seed)
        split = split_by_group(frames, "surface", (0.6, 0.2, 0.2), seed, seen_elements=True)
        assert [len(split.groups(p)) for p in PARTS] == [len(plain.groups(p)) for p in PARTS]
        train = {z for i in split.train_idx for z in frames[i].get_chemical_symbols()}
        for part in ("val", "test"):
            held = {z for i in split.indices(part) for z in frames[i].get_chemical_symbols()}
            assert held <= train, (seed, part, held - train)
        assert not unique & set(split.val + split.test)
        plain_train = {z for i in plain.train_idx for z in frames[i].get_chemical_symbols()}
        plain_held = {z for i in plain.val_idx + plain.test_idx
                      for z in frames[i].get_chemical_symbols()}
        if plain_held <= plain_train:  # nothing to fix: the same split as without the option
            assert (split.train, split.val, split.test) == (plain.train, plain.val, plain.test)


def test_seen_elements_refuses_when_no_group_can_be_held_out():
    frames = _surfaces("Pt", "Cu", "Ag", "Au")
    with pytest.raises(ConfigError, match="seen_elements"):
        split_by_group(frames, "surface", seen_elements=True)

"""Every embedded data set loads, with the counts and labels its README states."""

from __future__ import annotations

import numpy as np
import pytest

from metalegnet.data import available, get_labels, load
from metalegnet.errors import DataError

EXPECTED = {"oc20-mini": 5296, "oc22-mini": 32, "xu-kitchin": 1106, "mamun-subset": 31,
            "c3-cu111": 364, "pdn-ceria": 69, "gamenet-fg": 3108, "gamenet-fg-references": 221,
            "wwl-simple": 1422, "wwl-complex": 369, "wwl-gpr": 1791,
            "bench-3d-ml": 1377, "fewshot-3d-ml": 376, "bench-0d-ml": 1080,
            "fewshot-0d-ml": 284, "bench-2d-ml": 1409, "fewshot-2d-ml": 466}


def test_available_lists_every_set():
    assert sorted(available()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_set_loads_with_its_count_and_string_sids(name):
    frames = load(name)
    assert len(frames) == EXPECTED[name]
    assert all(isinstance(a.info["sid"], str) and a.info["source"] for a in frames)
    assert all(len(a) > 0 for a in frames)


def test_oc20_mini_is_31_complete_trajectories():
    frames = load("oc20-mini")
    by_sid: dict[str, list[int]] = {}
    for a in frames:
        by_sid.setdefault(a.info["sid"], []).append(int(a.info["fid"]))
        assert a.info["provenance"] == "OC20 (CC-BY-4.0)"
    assert len(by_sid) == 31
    for sid, fids in by_sid.items():
        assert fids == list(range(len(fids))), sid  # frame 0 .. last, in file order
    nframes = {a.info["sid"]: a.info["nframes"] for a in frames}
    assert {s: len(f) for s, f in by_sid.items()} == nframes
    first = frames[0]
    labels = get_labels(first)
    assert labels["forces"].shape == (len(first), 3)
    assert set(np.unique(first.get_tags())) == {0, 1, 2}
    assert len(load("oc20-mini", index="0")) == 31


def test_label_keys_per_set():
    assert all("e_ads" in get_labels(a) for a in load("pdn-ceria"))
    assert not any("forces" in get_labels(a) for a in load("pdn-ceria"))
    c3 = load("c3-cu111")
    assert all({"energy", "forces", "e_ads"} <= set(get_labels(a)) for a in c3)
    assert get_labels(c3[0])["e_ads"] == pytest.approx(c3[0].info["eads_real"])
    xu = load("xu-kitchin")
    assert sum("e_ads" in get_labels(a) for a in xu) == 882  # the rest are flagged
    assert all({"energy", "forces"} <= set(get_labels(a)) for a in load("oc22-mini"))


def test_gamenet_fg_e_ads_is_total_minus_its_references():
    refs = load("gamenet-fg-references")
    assert sorted({a.info["calc_type"] for a in refs}) == ["gas", "slab"]
    slab = {a.info["metal"]: a.get_potential_energy() for a in refs
            if a.info["calc_type"] == "slab"}
    assert len(slab) == 14
    frames = load("gamenet-fg")
    for a in frames[::97]:
        e_tot = a.get_potential_energy()
        assert a.info["e_slab"] == pytest.approx(slab[a.info["metal"]])
        assert a.info["e_ads"] == pytest.approx(e_tot - a.info["e_slab"] - a.info["e_gas"])
        assert set(a.get_chemical_symbols()) - {"C", "H", "O", "N", "S"}  # a metal slab
        assert (a.get_tags() == 2).sum() == sum(
            s in "CHONS" for s in a.get_chemical_symbols())
    assert len({a.info["metal"] for a in frames}) == 14
    assert not any("forces" in get_labels(a) for a in frames[:50])


def test_wwl_sets_keep_their_labels_as_strings():
    simple = load("wwl-simple")
    assert {a.info["adsorbate"] for a in simple} == {"C", "CH", "CH2", "CH3", "CO", "H", "O",
                                                      "OH"}
    assert all(isinstance(a.info["surface"], str) and "e_ads" in get_labels(a) for a in simple)
    assert len({a.info["surface"] for a in simple}) == 19
    assert sum(a.info["facet"] == "(211)" for a in simple) == 1174
    complex_ = load("wwl-complex")
    assert {a.info["surface"] for a in complex_} == {"Pt", "Ru", "CuCo", "PdRh"}
    assert all({"energy", "forces", "e_ads"} <= set(get_labels(a)) for a in complex_)


def test_mamun_e_ads_comes_from_the_json_and_matches_the_extxyz():
    frames = load("mamun-subset")
    for a in frames:
        assert a.info["e_ads"] == pytest.approx(a.info["ads_energy"], abs=1e-9)
        assert get_labels(a)["energy"] == pytest.approx(a.info["total_energy"])


def test_load_returns_independent_copies():
    a = load("pdn-ceria")[0]
    a.positions += 1.0
    a.info["sid"] = "changed"
    b = load("pdn-ceria")[0]
    assert b.info["sid"] != "changed"
    assert not np.allclose(a.positions, b.positions)


def test_unknown_name():
    with pytest.raises(DataError, match="oc21: unknown embedded data set; choose one of"):
        load("oc21")

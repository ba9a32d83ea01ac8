"""Labels per task, and IS2RE pairing of initial structures with relaxed energies."""

from __future__ import annotations

import random

import numpy as np
import pytest
from ase.build import fcc111
from ase.calculators.singlepoint import SinglePointCalculator

from metalegnet.data import get_labels, labels_for_task, load, pair_is2re, target_keys
from metalegnet.errors import ConfigError, DataError


def test_is2re_pairs_first_frame_with_last_frame_energy_on_oc20_mini():
    frames = load("oc20-mini")
    last = {}
    for a in frames:
        last[a.info["sid"]] = a  # files are in fid order
    random.Random(0).shuffle(frames)  # pairing must use fid, not list order
    pairs = pair_is2re(frames)
    assert len(pairs) == 31
    for initial, energy, relaxed in pairs:
        sid = initial.info["sid"]
        assert initial.info["fid"] == 0
        assert relaxed.info["fid"] == initial.info["nframes"] - 1
        assert energy == pytest.approx(last[sid].get_potential_energy())
        assert energy < initial.get_potential_energy()  # a relaxation lowers the energy


def test_is2re_samples_carry_only_the_relaxed_energy():
    samples = labels_for_task(load("oc20-mini"), "is2re")
    assert len(samples) == 31
    for atoms, labels in samples:
        assert list(labels) == ["relaxed_energy"]
        assert atoms.info["fid"] == 0


def test_is2re_refuses_subsampled_trajectories():
    with pytest.raises(DataError, match="incomplete trajectory: last frame has fid 120 but "
                                        "the trajectory has 126 frames"):
        pair_is2re(load("oc20-mini", index="::40"))


def test_is2re_adsorption_target_uses_the_last_frames_e_ads():
    frames = []
    for fid, (e, e_ads) in enumerate([(-10.0, 0.5), (-11.0, 0.2), (-11.5, -0.3)]):
        a = fcc111("Cu", (1, 1, 3), vacuum=5.0)
        a.calc = SinglePointCalculator(a, energy=e)
        a.info.update(sid="t", fid=fid, e_ads=e_ads)
        frames.append(a)
    (sample,) = labels_for_task(frames[::-1], "is2re", energy_target="adsorption")
    assert sample.atoms.info["fid"] == 0
    assert sample.labels == {"relaxed_e_ads": pytest.approx(-0.3)}
    (total,) = labels_for_task(frames, "is2re")
    assert total.labels == {"relaxed_energy": pytest.approx(-11.5)}


def test_is2re_refuses_single_frame_systems():
    with pytest.raises(DataError, match=r"sid=fcc111_coverage_0\]: IS2RE needs a relaxation"):
        labels_for_task(load("xu-kitchin")[:3], "is2re", energy_target="adsorption")


def test_per_frame_tasks():
    frames = load("c3-cu111")[:3]
    s2ef = labels_for_task(frames, "s2ef")
    for (_, labels), a in zip(s2ef, frames):
        assert set(labels) == {"energy", "forces"}
        assert labels["energy"] == pytest.approx(a.get_potential_energy())
        np.testing.assert_allclose(labels["forces"], a.get_forces(apply_constraint=False))
    ads = labels_for_task(frames, "s2e", energy_target="adsorption")
    assert [s.labels["e_ads"] for s in ads] == pytest.approx([a.info["eads_real"]
                                                             for a in frames])
    other = labels_for_task(frames, "s2e", "adsorption", energy_key="eads")
    assert other[0].labels["e_ads"] == pytest.approx(frames[0].info["eads"])
    assert set(labels_for_task(frames, "s2f")[0].labels) == {"forces"}


def test_missing_label_for_a_task_names_the_structure():
    frame = load("oc20-mini", index="0")[0]
    with pytest.raises(DataError) as err:
        labels_for_task([frame], "s2e", energy_target="adsorption")
    assert str(err.value) == (f"{frame.info['source']} [index 0, sid=random1000100]: "
                              "missing label 'e_ads'")


def test_get_labels_energy_from_info_when_no_calculator():
    a = fcc111("Cu", (1, 1, 3), vacuum=5.0)
    assert get_labels(a) == {}
    a.info["energy"] = -3.0
    assert get_labels(a) == {"energy": -3.0}


def test_unknown_task_and_target():
    assert target_keys("s2ef", "adsorption") == ("e_ads", "forces")
    with pytest.raises(ConfigError, match="unknown task 's2x'"):
        labels_for_task([], "s2x")
    with pytest.raises(ConfigError, match="unknown energy target 'free'"):
        labels_for_task([], "s2e", energy_target="free")

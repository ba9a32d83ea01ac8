"""Masking on a stub model with known answers, and the stability of a tiny model."""

from __future__ import annotations

import numpy as np
import pytest

from metalegnet.explain.environment import explain_structures
from metalegnet.explain.faithfulness import masked, masking_faithfulness
from metalegnet.explain.stability import seed_stability, transform_stability
from metalegnet.testing.structures import slab_with_adsorbate
from tests.explain.helpers import ElementStub, tiny_model
from tests.explain.test_references import o_on_top


def cu_site():
    """Pt(111) with the atom under the O and one neighbour made Cu (c = 1 eV each)."""
    slab, top = o_on_top()
    d = np.linalg.norm(slab.positions - slab.positions[top], axis=1)
    d[top] = np.inf
    d[slab.get_tags() != 1] = np.inf
    nb = int(np.argmin(d))
    slab.numbers[[top, nb]] = 29
    return slab, sorted([top, nb])


def test_masking_answers_are_known():
    slab, cu = cu_site()
    model = ElementStub({78: 0.1, 29: 1.0, 8: 0.5})
    ex = explain_structures(model, [slab])[0]
    np.testing.assert_array_equal(ex.environment.surface_indices, cu)
    assert ex.energy == pytest.approx(25 * 0.1 + 2 * 1.0 + 0.5)
    label = ex.energy + 0.3  # the model under-predicts by 0.3 eV
    res = masking_faithfulness(model, [slab], [ex.environment], [ex.energy], [label],
                               draws=6, seed=1)
    s = res.summary()
    assert s["num_structures"] == 1 and s["mean_mask_size"] == 2
    assert s["learned"]["abs_dE"] == pytest.approx(2.0)  # both Cu removed
    assert s["learned"]["dE"] == pytest.approx(-2.0)
    assert s["distant"]["abs_dE"] == pytest.approx(0.2)  # two bottom Pt atoms
    assert 0.2 - 1e-9 <= s["random"]["abs_dE"] < 2.0
    assert s["learned"]["d_abs_error"] == pytest.approx(2.0)  # |E-2-y| - |E-y| = 2.3 - 0.3
    assert s["distant"]["d_abs_error"] == pytest.approx(0.2)
    assert s["learned"]["abs_dE_learned"] == pytest.approx(2.0)  # no reference energies
    assert s["distant"]["learned_larger_fraction"] == 1.0


def test_masked_keeps_tags_and_drops_atoms():
    slab, cu = cu_site()
    m = masked(slab, cu)
    assert len(m) == len(slab) - 2 and 29 not in m.numbers
    assert (m.get_tags() == 2).sum() == 1


def test_structure_without_catalyst_environment_is_skipped():
    slab, _ = o_on_top()
    model = ElementStub({78: 0.1, 8: 1.0})  # only the O stands out
    ex = explain_structures(model, [slab])[0]
    assert ex.environment.surface_indices.size == 0
    res = masking_faithfulness(model, [slab], [ex.environment], [ex.energy])
    assert res.skipped == 1 and res.summary()["num_structures"] == 0


def alloy_slabs(n: int = 2):
    """Jittered Pt(111) 4x4x3 + OH with a few Cu atoms (the tiny model's environment is
    then a proper, non-empty subset of the catalyst)."""
    out = []
    for k in range(n):
        s = slab_with_adsorbate(pbc=(True, True, True), seed=k).repeat((2, 2, 1))
        s.numbers[[1, 5, 7, 13][:k + 1]] = 29
        out.append(s)
    return out


def test_transform_stability_of_an_invariant_model():
    model = tiny_model(seed=3).double()  # picks the Cu atoms: a small, sensitive set
    structures = alloy_slabs()
    envs = [e.environment for e in explain_structures(model, structures)]
    for atoms, env in zip(structures, envs):
        assert 0 < env.surface_indices.size < (atoms.get_tags() != 2).sum() // 4
    scores = transform_stability(model, structures, envs, draws=2, seed=0)
    for name in ("rotation", "translation", "permutation"):
        np.testing.assert_allclose(scores[name], 1.0, err_msg=name)


def test_seed_stability():
    structures = alloy_slabs()
    a, b = tiny_model(seed=0), tiny_model(seed=3)  # seed 3 picks the Cu atoms instead
    same = seed_stability([a, a], structures)
    np.testing.assert_allclose(same, 1.0)
    other = seed_stability([a, b], structures)
    assert ((0.0 <= other) & (other < 0.5)).all()
    with pytest.raises(ValueError, match="two"):
        seed_stability([a], structures)

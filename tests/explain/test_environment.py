"""Otsu environments (eq. 32) on weights whose answer is known, and explain_structures."""

from __future__ import annotations

import numpy as np
import pytest

from metalegnet.explain.environment import (
    AdsorptionEnvironment,
    explain_structures,
    otsu_environment,
)
from metalegnet.testing.structures import slab_with_adsorbate
from tests.explain.helpers import tiny_model


def test_bimodal_weights_split_at_the_gap():
    rng = np.random.default_rng(0)
    low, high = rng.uniform(0.0, 0.2, 20), rng.uniform(0.8, 1.0, 5)
    w = np.concatenate([low, high])
    tags = np.ones(25, dtype=int)
    env = otsu_environment(w, tags)
    assert isinstance(env, AdsorptionEnvironment)
    assert low.max() <= env.threshold < high.min()
    np.testing.assert_array_equal(env.indices, np.arange(20, 25))
    assert not env.degenerate and env.size == 5 and env.surface.all()


def test_adsorbate_always_belongs_even_with_low_weight():
    w = np.array([1.0, 0.95, 0.9, 0.05, 0.02, 0.01, 0.0])
    tags = np.array([1, 1, 1, 0, 0, 2, 2])
    env = otsu_environment(w, tags)
    np.testing.assert_array_equal(env.indices, [0, 1, 2, 5, 6])
    np.testing.assert_array_equal(env.adsorbate, [False, False, False, True, True])
    np.testing.assert_array_equal(env.surface, ~env.adsorbate)
    np.testing.assert_array_equal(env.selected, [True, True, True, False, False, False, False])
    np.testing.assert_array_equal(env.surface_indices, [0, 1, 2])
    assert env.mask.sum() == 5


def test_all_equal_weights_are_degenerate():
    tags = np.array([0, 1, 1, 2])
    env = otsu_environment(np.full(4, 0.7), tags)
    assert env.degenerate and np.isnan(env.threshold)
    np.testing.assert_array_equal(env.indices, [3])  # the adsorbate alone
    env = otsu_environment(np.full(4, 0.7), np.ones(4, dtype=int))  # no adsorbate: all
    np.testing.assert_array_equal(env.indices, np.arange(4))


def test_tiny_systems():
    env = otsu_environment([1.0], [2])
    assert env.degenerate and env.indices.tolist() == [0]
    env = otsu_environment([1.0, 0.1], [1, 1])  # two distinct weights: the larger one
    assert not env.degenerate and env.indices.tolist() == [0]
    with pytest.raises(ValueError, match="at least one atom"):
        otsu_environment([], [])
    with pytest.raises(ValueError, match="tags"):
        otsu_environment([1.0, 0.5], [1])
    with pytest.raises(ValueError, match="NaN"):
        otsu_environment([1.0, np.nan], [1, 1])


def test_explain_structures_returns_consistent_arrays():
    model = tiny_model()
    structures = [slab_with_adsorbate(seed=s) for s in range(3)]
    out = explain_structures(model, structures, batch_size=2)
    assert len(out) == 3
    for atoms, ex in zip(structures, out):
        n = len(atoms)
        assert ex.contributions.shape == (n,) and ex.latent.shape == (n, 8)
        assert ex.importance.max() == pytest.approx(1.0)
        np.testing.assert_allclose(ex.atom_energies.sum(), ex.energy, rtol=1e-5, atol=1e-5)
        env = ex.environment
        assert set(np.flatnonzero(atoms.get_tags() == 2)) <= set(env.indices.tolist())
        assert len(env.voxel_index) == 1 and env.voxel_index[0].shape == (n,)
        assert env.voxel_index[0].min() == 0
    # batching does not change the answer
    single = explain_structures(model, structures[2:], batch_size=1)[0]
    np.testing.assert_allclose(single.importance, out[2].importance, atol=1e-5)
    np.testing.assert_array_equal(single.environment.voxel_index[0],
                                  out[2].environment.voxel_index[0])


def test_vanilla_has_no_voxels():
    out = explain_structures(tiny_model("vanilla"), [slab_with_adsorbate()])
    assert out[0].environment.voxel_index == ()


def test_catalyst_scope_segments_the_slab_under_a_dominant_adsorbate():
    w = np.array([0.02, 0.03, 0.01, 0.012, 0.011, 1.0])  # the adsorbate carries E
    tags = np.array([1, 1, 0, 0, 0, 2])
    assert otsu_environment(w, tags).indices.tolist() == [5]  # eq. 32: adsorbate alone
    env = otsu_environment(w, tags, scope="catalyst")
    assert env.indices.tolist() == [0, 1, 5] and env.threshold == 0.012
    with pytest.raises(ValueError, match="scope"):
        otsu_environment(w, tags, scope="slab")

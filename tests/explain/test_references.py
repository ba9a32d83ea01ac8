"""Geometric references on a built slab whose nearest atoms are known."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import add_adsorbate, fcc111

from metalegnet.explain.environment import otsu_environment
from metalegnet.explain.references import (
    adsorbate_distances,
    chance_iou,
    cutoff_reference,
    farthest_catalyst,
    knn_reference,
    overlap,
    reference_overlaps,
)


def o_on_top() -> tuple[Atoms, int]:
    """Pt(111) 3x3x3, an O atom 2.0 Å on top of a surface atom; returns (slab, that atom)."""
    slab = fcc111("Pt", size=(3, 3, 3), vacuum=8.0)
    top = int(np.argmax(slab.positions[:, 2]))
    tags = np.where(slab.positions[:, 2] > slab.positions[:, 2].max() - 0.5, 1, 0)
    add_adsorbate(slab, "O", 2.0, position=tuple(slab.positions[top, :2]))
    slab.set_tags(np.concatenate([tags, [2]]))
    return slab, top


def test_distances_and_references_on_top_site():
    slab, top = o_on_top()
    d = adsorbate_distances(slab)
    assert d[-1] == 0.0
    assert d[top] == pytest.approx(2.0)
    # next: the 6 in-plane neighbours at the Pt-Pt distance a/sqrt(2) (ASE a = 3.92 Å)
    assert np.sort(d[:-1])[1] == pytest.approx(np.hypot(2.0, 3.92 / np.sqrt(2)), rel=1e-6)
    # 2.0 Å on top: only the atom below is within 2.5 Å; within 3.5 Å the 6 in-plane
    # neighbours (3.39 Å) join it
    np.testing.assert_array_equal(cutoff_reference(slab, 2.5), [top])
    assert cutoff_reference(slab, 3.5).size == 7
    np.testing.assert_array_equal(knn_reference(slab, 1), [top])
    assert set(knn_reference(slab, 7)) == set(cutoff_reference(slab, 3.5))
    far = farthest_catalyst(slab, 3)
    assert all(slab.get_tags()[far] == 0)  # bottom-layer atoms are the farthest


def test_periodic_images_count():
    """An adsorbate at the cell corner sees atoms across the boundary as near."""
    slab, top = o_on_top()
    slab.positions[-1, :2] = 0.0  # above atom 0's column position of the top layer's image
    slab.positions -= [0.01, 0.01, 0]
    d_mic = adsorbate_distances(slab)
    naive = np.linalg.norm(slab.positions - slab.positions[-1], axis=1)
    assert (d_mic <= naive + 1e-9).all() and (d_mic < naive - 1.0).any()


def test_overlap_scores():
    o = overlap([1, 2, 3, 4], [3, 4, 5])
    assert (o.precision, o.recall, o.iou) == (0.5, 2 / 3, 2 / 5)
    e = overlap([], [])
    assert np.isnan(e.precision) and np.isnan(e.recall) and e.iou == 1.0
    assert overlap([], [1]).iou == 0.0
    assert chance_iou(10, 2, 5) == pytest.approx(1 / 6)  # E|L∩R| = 1 -> 1 / (2 + 5 - 1)
    assert chance_iou(10, 10, 10) == 1.0


def test_reference_overlaps_of_a_known_environment():
    slab, top = o_on_top()
    w = np.full(len(slab), 0.05)
    w[top], w[-1] = 1.0, 0.9
    env = otsu_environment(w, slab.get_tags())
    np.testing.assert_array_equal(env.indices, [top, len(slab) - 1])
    ov = reference_overlaps(slab, env, cutoff=3.5)
    assert ov["knn"].iou == 1.0  # K = 1 -> the atom under the O
    assert ov["cutoff"].precision == 1.0 and ov["cutoff"].recall == pytest.approx(1 / 7)


def test_no_adsorbate_is_refused():
    slab = fcc111("Pt", size=(2, 2, 2), vacuum=5.0)
    slab.set_tags(1)
    with pytest.raises(ValueError, match="no adsorbate"):
        adsorbate_distances(slab)

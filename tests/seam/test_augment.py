"""Placed-pose augmentation of the SEAM scorer's training structures."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import add_adsorbate, fcc111

from metalegnet.errors import ConfigError
from metalegnet.seam.augment import PoseAugmentConfig, augment_poses


def _co():
    return Atoms("CO", positions=[[0, 0, 0], [0, 0, 1.15]])  # C down


def _adslab(site: str, e_ads: float, jitter: float, seed: int):
    slab = fcc111("Pt", (2, 2, 3), vacuum=8.0)
    slab.set_tags(np.where(slab.get_tags() == 1, 1, 0))
    slab.positions += np.random.default_rng(seed).normal(0.0, jitter, slab.positions.shape)
    add_adsorbate(slab, _co(), 1.9, site)
    slab.set_tags([*slab.get_tags()[:-2], 2, 2])
    slab.info = {"e_ads": e_ads, "site": site}
    return slab


def _pair():
    return [_adslab("fcc", -1.0, 0.03, 0), _adslab("ontop", -0.5, 0.03, 1)]


def test_variants_keep_the_label_and_move_the_adsorbate_rigidly():
    frames = _pair()
    out = augment_poses(frames, PoseAugmentConfig(copies=3, slab_swap=0.0, seed=1))
    assert out[:2] == frames and len(out) == 2 + 2 * 3
    for k, v in enumerate(out[2:]):
        src = frames[k // 3]
        assert v.info["e_ads"] == src.info["e_ads"] and v.info["augmented"]
        assert "augmented" not in src.info
        assert np.allclose(v.positions[:-2], src.positions[:-2])  # own substrate
        shift = v.positions[-2:] - src.positions[-2:]
        assert np.allclose(shift[0], shift[1])  # rigid
        assert 0 < np.linalg.norm(shift[0]) < 1.0
    up = augment_poses(frames, PoseAugmentConfig(copies=2, slab_swap=0.0, lateral_sigma=0.0))
    assert all(np.allclose((v.positions[-2:] - frames[k // 2].positions[-2:])[:, :2], 0)
               for k, v in enumerate(up[2:]))
    flat = augment_poses(frames, PoseAugmentConfig(copies=2, slab_swap=0.0, vertical_sigma=0.0))
    assert all(np.allclose((v.positions[-2:] - frames[k // 2].positions[-2:])[:, 2], 0)
               for k, v in enumerate(flat[2:]))


def test_slab_swap_takes_the_partner_substrate_aligned_across_the_cell():
    a, b = _pair()
    b.positions[:-2] += b.cell[0]  # the same slab stored one cell vector away
    out = augment_poses([a, b], PoseAugmentConfig(copies=2, slab_swap=1.0,
                                                  lateral_sigma=0.0, vertical_sigma=0.0))
    assert len(out) == 6
    for v in out[2:4]:  # a's variants: b's substrate moved back next to a's atoms
        assert np.allclose(v.positions[:-2], b.positions[:-2] - b.cell[0])
        assert np.allclose(v.positions[-2:], a.positions[-2:])
        assert not np.allclose(v.positions[:-2], a.positions[:-2])


def test_no_partner_of_another_slab_model_and_no_clashing_variant():
    a, top = _pair()
    other = fcc111("Cu", (2, 2, 3), vacuum=8.0)
    add_adsorbate(other, _co(), 1.9, "fcc")
    other.set_tags([0] * 12 + [2, 2])
    other.info = {"e_ads": -0.2}
    out = augment_poses([a, other], PoseAugmentConfig(copies=2, slab_swap=1.0))
    assert np.allclose(out[2].positions[:-2], a.positions[:-2])  # Cu is no partner of Pt
    # the atop C 0.4 Å over its Pt atom: every draw clashes and is dropped
    low = top.copy()
    low.positions[-2:, 2] -= 1.5
    assert len(augment_poses([low], PoseAugmentConfig(copies=4, lateral_sigma=0.05,
                                                      vertical_sigma=0.05))) == 1
    # a wide vertical spread: the draws into the slab are dropped, those above kept
    deep = augment_poses([top], PoseAugmentConfig(copies=6, slab_swap=0.0, lateral_sigma=0.0,
                                                vertical_sigma=1.5, tries=1, seed=3))
    assert 1 < len(deep) < 7
    for v in deep[1:]:
        assert v.positions[-2:, 2].min() - top.positions[:-2, 2].max() > 0.7 * (0.76 + 1.36)


def test_config_and_no_copies():
    frames = _pair()
    assert augment_poses(frames, PoseAugmentConfig()) == frames
    with pytest.raises(ConfigError):
        PoseAugmentConfig(copies=-1)
    with pytest.raises(ConfigError):
        PoseAugmentConfig(slab_swap=1.5)
    with pytest.raises(ConfigError):
        PoseAugmentConfig(copies=1.5)


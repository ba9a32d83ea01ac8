"""Registration on known poses: rigid fit about the normal, element-aware correspondence."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from metalegnet.surface.detect import in_plane_images
from metalegnet.surface.motifs import find_motifs
from metalegnet.surface.registration import RegistrationConfig, fit_about_normal, register, rot_z
from tests.seam.helpers import alloy_slab, co_adslab, rotated_copy, template_of


def test_fit_about_normal_equals_align_vectors_with_the_normal_fixed():
    rng = np.random.default_rng(0)
    p = rng.normal(size=(7, 3))
    q = p @ rot_z(1.1).T + np.array([0.3, -2.0, 0.5]) + 0.05 * rng.normal(size=(7, 3))
    rot, trans = fit_about_normal(p, q)
    z = np.array([[0.0, 0.0, 1.0]])
    ref, _ = Rotation.align_vectors(np.vstack([z, q - q.mean(0)]), np.vstack([z, p - p.mean(0)]),
                                    weights=np.concatenate([[np.inf], np.ones(7)]))
    assert np.allclose(rot, ref.as_matrix(), atol=1e-9)
    assert np.allclose(rot @ [0, 0, 1.0], [0, 0, 1.0])
    assert np.allclose(trans, q.mean(0) - rot @ p.mean(0))


def _target(slab):
    pos, idx = in_plane_images(slab)
    return pos, np.array(slab.get_chemical_symbols())[idx], idx


def _true_motif(slab, adslab_moved):
    """The motif under the moved adsorbate's binding atom."""
    c = adslab_moved.positions[len(slab)]
    cell = slab.cell
    best = None
    for m in find_motifs(slab, merge_equivalent=False):
        if m.site_type != "hollow-3":
            continue
        for i in (-1, 0, 1):
            for j in (-1, 0, 1):
                d = np.linalg.norm((m.position + i * cell[0] + j * cell[1] - c)[:2])
                if best is None or d < best[0]:
                    best = (d, m)
    return best[1]


def test_template_registered_on_a_rotated_translated_copy_recovers_the_pose():
    slab = alloy_slab()
    adslab = co_adslab(slab)
    template = template_of(adslab)
    assert template.site_type == "hollow-3" and template.adsorbate_formula == "CO"
    moved_adslab = rotated_copy(adslab)
    moved = moved_adslab[: len(slab)]
    motif = _true_motif(moved, moved_adslab)
    reg = register(template, *_target(moved), motif.position, motif.atoms)
    assert reg is not None and reg.rmsd < 1e-6 and reg.substitutions == 0
    placed = reg.apply(template.positions[template.adsorbate_indices])
    # Same place as the moved adsorbate, up to a lattice vector.
    for a, b in zip(placed, moved_adslab.positions[len(slab):]):
        frac = np.linalg.solve(moved.cell.T, a - b)
        assert np.allclose(frac[:2], np.round(frac[:2]), atol=1e-6) and abs(frac[2]) < 1e-6


def test_registration_from_a_wrong_start_still_finds_the_pose():
    """One azimuth start far from the answer falls into a local optimum; the scan does not."""
    slab = alloy_slab(seed=3)
    adslab = co_adslab(slab, tilt=0.4)
    template = template_of(adslab, radius=5.0)
    moved_adslab = rotated_copy(adslab, angle=163.0, shift=(0.2, 0.9, -0.3))
    moved = moved_adslab[: len(slab)]
    motif = _true_motif(moved, moved_adslab)
    scan = register(template, *_target(moved), motif.position, motif.atoms)
    assert scan is not None and scan.rmsd < 1e-6


def test_element_mismatch_is_rejected_and_substitution_is_counted():
    slab = alloy_slab()
    template = template_of(co_adslab(slab))
    gold = slab.copy()
    gold.set_chemical_symbols(["Au"] * len(gold))
    motif = next(m for m in find_motifs(gold) if m.site_type == "hollow-3")
    assert register(template, *_target(gold), motif.position, motif.atoms) is None
    sub = register(template, *_target(gold), motif.position, motif.atoms,
                   RegistrationConfig(substitution_cost=1.0))
    assert sub is not None and sub.substitutions == len(template.surface_indices)


def test_fcc_template_fits_an_hcp_hollow_worse():
    """Subsurface atoms in the template tell fcc from hcp hollows by geometry alone."""
    from ase.build import fcc111

    slab = fcc111("Pt", (3, 3, 4), vacuum=8.0)
    slab.set_tags(np.where(slab.positions[:, 2] > slab.positions[:, 2].max() - 0.5, 1, 0))
    template = template_of(co_adslab(slab, "fcc", tilt=0.0), radius=4.0)
    motifs = [m for m in find_motifs(slab) if m.site_type == "hollow-3"]
    assert len(motifs) == 2
    rmsds = sorted(register(template, *_target(slab), m.position, m.atoms).rmsd for m in motifs)
    assert rmsds[0] < 1e-6 and rmsds[1] > 0.3

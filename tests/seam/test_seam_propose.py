"""SEAM end to end on known poses: placement in the template's pose, clashes, ranking."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import fcc111

from metalegnet.errors import DataError
from metalegnet.seam import SeamConfig, seam
from metalegnet.seam.place import clash
from metalegnet.surface.detect import find_surface_atoms
from metalegnet.surface.motifs import find_motifs
from tests.seam.helpers import alloy_slab, co_adslab, rotated_copy, template_of, tiny_model


def _same_up_to_lattice(cell, a, b) -> bool:
    frac = np.linalg.solve(cell.T, (a - b).T).T
    return bool(np.allclose(frac[:, :2], np.round(frac[:, :2]), atol=1e-6)
                and np.allclose(frac[:, 2], 0.0, atol=1e-6))


def test_seam_puts_co_back_in_its_pose_on_a_rotated_copy():
    slab = alloy_slab()
    adslab = co_adslab(slab)
    moved_adslab = rotated_copy(adslab)
    moved = moved_adslab[: len(slab)]
    result = seam(moved, "CO", [template_of(adslab, key="t0")], config=SeamConfig(top_k=3))
    best = result.proposals[0]
    assert best.rank == 1 and best.registration.rmsd < 1e-6 and best.template_pose
    atoms = best.atoms
    assert len(atoms) == len(slab) + 2
    assert atoms.get_chemical_symbols()[: len(slab)] == moved.get_chemical_symbols()
    assert (atoms.get_tags()[len(slab):] == 2).all()
    assert atoms.info["rank"] == 1 and "score" in atoms.info
    assert _same_up_to_lattice(moved.cell, atoms.positions[len(slab):],
                               moved_adslab.positions[len(slab):])
    scores = [p.score for p in result.proposals]
    assert scores == sorted(scores)


def test_clash_check():
    slab = fcc111("Pt", (2, 2, 3), vacuum=8.0)
    top = slab.positions[np.argmax(slab.positions[:, 2])]
    assert clash(slab, top[None] + [0, 0, 0.8], np.array([8])) is not None
    assert clash(slab, top[None] + [0, 0, 2.0], np.array([8])) is None
    hollow_below = top + [1.0, 0.5, -0.5]
    assert clash(slab, hollow_below[None], np.array([1])) is not None


def test_clashing_template_poses_are_dropped():
    slab = alloy_slab()
    adslab = co_adslab(slab)
    adslab.positions[-2:, 2] -= 1.0  # C pushed into the surface: every placement clashes
    template = template_of(adslab)
    result = seam(slab, "CO", [template], config=SeamConfig(top_k=3, heuristic_fallback=False))
    assert result.proposals == [] and result.n_clashes > 0
    filled = seam(slab, "CO", [template], config=SeamConfig(top_k=50))
    assert filled.proposals and all(p.template is None for p in filled.proposals)


def test_sites_no_template_fits_get_the_heuristic_pose():
    from ase.build import fcc100

    slab = fcc100("Pt", (3, 3, 4), vacuum=8.0)
    slab.set_tags(np.where(slab.positions[:, 2] > slab.positions[:, 2].max() - 0.5, 1, 0))
    template = template_of(co_adslab(alloy_slab()))  # a (111) hollow: fits nothing here
    result = seam(slab, "CO", [template], config=SeamConfig(top_k=5))
    kinds = {p.motif.site_type for p in result.proposals}
    assert kinds == {"top", "bridge", "hollow-4"}
    for p in result.proposals:
        assert p.template is None and p.row()["template"] == "heuristic"
        assert clash(slab, p.atoms.positions[-2:], p.atoms.numbers[-2:]) is None


def test_other_adsorbate_is_reseated_and_the_model_ranks():
    slab = alloy_slab()
    template = template_of(co_adslab(slab), key="co")
    model = tiny_model()
    result = seam(slab, "NO", [template], model=model, config=SeamConfig(top_k=4))
    assert result.proposals
    for p in result.proposals:
        assert not p.template_pose and p.energy is not None
        assert p.atoms.get_chemical_symbols()[-2:] == ["N", "O"]
        assert clash(slab, p.atoms.positions[-2:], p.atoms.numbers[-2:]) is None
    from metalegnet.inference import predict

    e = predict(model, [p.atoms for p in result.proposals], compute_forces=False)
    assert np.allclose([x.energy for x in e], [p.energy for p in result.proposals])
    scores = [p.score for p in result.proposals]
    assert scores == sorted(scores)


def test_surface_atoms_from_geometry_match_the_top_layer():
    from ase.build import fcc100, fcc211

    for build in (fcc111, fcc100, fcc211):
        slab = build("Pt", (3, 3, 4), vacuum=8.0)
        slab.set_tags(0)
        found = find_surface_atoms(slab, "geometry")
        z = slab.positions[:, 2]
        if build is fcc211:
            assert len(found) == 9 and z[found].min() < z.max() - 0.5
        else:
            assert set(found) == set(np.flatnonzero(z > z.max() - 0.5))


def test_motifs_of_fcc111_and_symmetry_merging():
    slab = fcc111("Pt", (3, 3, 4), vacuum=8.0)
    raw = find_motifs(slab, merge_equivalent=False)
    counts = {t: sum(m.site_type == t for m in raw) for t in ("top", "bridge", "hollow-3")}
    assert counts == {"top": 9, "bridge": 27, "hollow-3": 18}
    merged = find_motifs(slab)
    assert len(merged) == 4 and sum(m.multiplicity for m in merged) == 54


def test_bad_input_is_one_clear_error():
    slab = alloy_slab()
    with pytest.raises(DataError, match="tag 2"):
        seam(co_adslab(slab), "CO", [template_of(co_adslab(slab))])
    molecule = slab.copy()
    molecule.pbc = False
    with pytest.raises(DataError, match="not a slab"):
        seam(molecule, "CO", [template_of(co_adslab(slab))])
    with pytest.raises(DataError, match="empty"):
        seam(slab, "CO", [])


def test_ase_build_layer_tags_are_not_adsorbate_tags():
    slab = fcc111("Pt", (3, 3, 4), vacuum=8.0)  # tags 1 (top) .. 4 (bottom)
    template = template_of(co_adslab(alloy_slab(), tilt=0.0))
    result = seam(slab, "CO", [template], config=SeamConfig(top_k=2, allow_substitution=True))
    assert result.proposals
    atoms = result.proposals[0].atoms
    assert (atoms.get_tags()[:36] != 2).all() and (atoms.get_tags()[36:] == 2).all()


def test_lattice_scaling_fits_a_template_from_another_lattice_constant():
    small = fcc111("Cu", (3, 3, 4), a=3.61, vacuum=8.0)
    big = fcc111("Cu", (3, 3, 4), a=3.95, vacuum=8.0)
    for s in (small, big):
        s.set_tags(np.where(s.positions[:, 2] > s.positions[:, 2].max() - 0.5, 1, 0))
    template = template_of(co_adslab(big, tilt=0.0))
    cfg = SeamConfig(top_k=1, allow_substitution=False, heuristic_fallback=False,
                     max_rmsd=5.0)
    scaled = seam(small, "CO", [template], config=cfg).proposals[0]
    raw = seam(small, "CO", [template],
               config=SeamConfig(**{**cfg.__dict__, "lattice_scaling": False})).proposals[0]
    assert scaled.registration.rmsd < 1e-6 < 0.1 < raw.registration.rmsd


def test_several_poses_per_site_return_one_proposal_per_site():
    slab = alloy_slab()
    templates = [template_of(co_adslab(slab, tilt=t), key=f"t{t}") for t in (0.0, 0.3, 0.6)]
    model = tiny_model()
    result = seam(slab, "CO", templates, model, SeamConfig(top_k=10, poses_per_motif=3))
    sites = [p.motif.atoms for p in result.proposals]
    assert len(sites) == len(set(sites))
    scores = [p.score for p in result.proposals]
    assert scores == sorted(scores)


def test_a_slab_stored_outside_its_cell_gets_the_same_clash_free_proposals():
    """Atoms stored a lattice vector or two outside the in-plane cell (as in 351 wwl-simple
    structures) are the same slab: same proposals, none clashing with a periodic image."""
    slab = alloy_slab(size=(2, 2, 4), n_pt=6)
    template = template_of(co_adslab(slab))
    shifted = slab.copy()
    rng = np.random.default_rng(0)
    for i in range(len(shifted)):
        shifted.positions[i] += rng.integers(-2, 3, size=2) @ shifted.cell[:2]
    ref = seam(slab, "CO", [template], config=SeamConfig(top_k=50))
    out = seam(shifted, "CO", [template], config=SeamConfig(top_k=50))
    assert len(out.proposals) == len(ref.proposals) > 0
    assert [round(p.score, 9) for p in out.proposals] == [round(p.score, 9)
                                                          for p in ref.proposals]
    n = len(slab)
    for p in out.proposals:
        d = p.atoms.get_distances(n, list(range(n)), mic=True)
        assert d.min() > 1.0, f"proposal {p.rank} clashes: C {d.min():.2f} Å from the slab"


def _fake(site_type: str, score: float):
    from types import SimpleNamespace

    return SimpleNamespace(motif=SimpleNamespace(site_type=site_type), score=score)


def test_cover_site_types_fills_the_last_slots_with_missing_types():
    from metalegnet.seam.propose import cover_site_types

    ranked = [_fake(t, i) for i, t in enumerate(
        ["hollow-3", "hollow-3", "bridge", "bridge", "hollow-3", "hollow-3", "top", "bridge"])]
    out = cover_site_types(ranked, 5)
    assert [p.score for p in out] == [0, 1, 2, 3, 6, 4, 5, 7]  # top takes the 5th slot
    assert [p.score for p in cover_site_types(ranked, 1)] == list(range(8))  # best stays 1st
    # k = 3 with 3 types: every slot goes to the best of a type not yet in
    assert [p.score for p in cover_site_types(ranked, 3)[:3]] == [0, 2, 6]
    assert sorted(p.score for p in out) == list(range(8))  # nothing lost or repeated


def test_seam_top_k_holds_every_site_type_it_proposes():
    slab = alloy_slab()
    template = template_of(co_adslab(slab), key="co")
    model = tiny_model()
    plain = seam(slab, "CO", [template], model, SeamConfig(top_k=50))
    types = {p.motif.site_type for p in plain.proposals}
    assert len(types) >= 3
    covered = seam(slab, "CO", [template], model,
                   SeamConfig(top_k=len(types), cover_site_types=True))
    assert {p.motif.site_type for p in covered.proposals} == types
    assert covered.proposals[0].atoms.positions.tolist() == \
        plain.proposals[0].atoms.positions.tolist()
    assert [p.rank for p in covered.proposals] == list(range(1, len(types) + 1))

"""The surface frame: a tilted cell is laid flat, a bottom-face adsorbate is turned up; surface
atoms from layer tags that mark more than the exposed atoms."""

from __future__ import annotations

import numpy as np
from ase.build import add_adsorbate, fcc211

from metalegnet.surface.detect import find_surface_atoms, surface_frame
from metalegnet.surface.motifs import find_motifs


def _oh_on_step(bottom: bool):
    slab = fcc211("Pt", (3, 2, 3), vacuum=8.0)
    add_adsorbate(slab, "O", 1.5, (0.5, 0.5))
    add_adsorbate(slab, "H", 2.5, (0.5, 0.5))
    tags = np.zeros(len(slab), int)
    tags[-2:] = 2
    slab.set_tags(tags)
    if bottom:  # the same structure seen from below: the adsorbate on the -z face
        slab.rotate(180.0, "y", rotate_cell=True)
    return slab


def test_a_bottom_face_adsorbate_is_turned_up_and_nothing_else_changes():
    for bottom in (False, True):
        atoms = _oh_on_step(bottom)
        up = surface_frame(atoms)
        ads = up.get_tags() == 2
        assert up.positions[ads, 2].min() > up.positions[~ads, 2].max()
        # a rotation: every periodic distance kept, a right-handed cell
        assert np.allclose(up.get_all_distances(mic=True), atoms.get_all_distances(mic=True))
        assert np.linalg.det(up.cell.array) > 0
        if not bottom:
            assert np.allclose(up.positions, atoms.positions)
    no_adsorbate = fcc211("Pt", (3, 2, 3), vacuum=8.0)
    assert np.allclose(surface_frame(no_adsorbate).positions, no_adsorbate.positions)


def test_a_tilted_cell_is_laid_flat_with_its_adsorbate_up():
    atoms = _oh_on_step(bottom=False)
    atoms.rotate(25.0, (1.0, 2.0, 0.3), rotate_cell=True)  # in-plane vectors rise out of xy
    assert abs(atoms.cell[0, 2]) > 0.1 or abs(atoms.cell[1, 2]) > 0.1
    flat = surface_frame(atoms)
    assert np.allclose(flat.cell[:2, 2], 0.0, atol=1e-8)
    assert np.allclose(flat.get_all_distances(mic=True), atoms.get_all_distances(mic=True))
    ads = flat.get_tags() == 2
    assert flat.positions[ads, 2].min() > flat.positions[~ads, 2].max()


def test_tag_1_on_whole_top_layers_keeps_only_the_exposed_atoms():
    # wwl-gpr, GAME-Net FG and OC20 tag the relaxed top layers 1, not only the exposed atoms
    slab = fcc211("Pt", (3, 3, 4), vacuum=8.0)
    slab.set_tags(0)  # not ase.build's layer numbers (its layer 2 would read as adsorbate)
    exposed = find_surface_atoms(slab, "geometry")
    top_half = slab.positions[:, 2] > np.median(slab.positions[:, 2])
    tags = np.where(top_half, 1, 0)
    assert set(exposed) < set(np.flatnonzero(tags == 1))  # layers, more than the exposed
    slab.set_tags(tags)
    assert np.array_equal(find_surface_atoms(slab), exposed)
    assert np.array_equal(find_surface_atoms(slab, "tags"), np.flatnonzero(tags == 1))
    # the step edge keeps its bridges along the edge: no atom under the edge splits them
    edge = exposed[np.argsort(-slab.positions[exposed, 2])[:3]]
    along = [m for m in find_motifs(slab, find_surface_atoms(slab))
             if m.site_type == "bridge" and set(m.atoms) <= set(edge.tolist())]
    assert along
    # tags still bound the search: an untagged exposed atom is not made a surface atom
    tags[exposed[0]] = 0
    slab.set_tags(tags)
    assert exposed[0] not in find_surface_atoms(slab)

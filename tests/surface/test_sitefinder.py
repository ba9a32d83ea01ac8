"""pymatgen's sites and the upright pose at a site."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import fcc100, fcc111
from ase.data import covalent_radii

from metalegnet.errors import ConfigError
from metalegnet.surface.adsorbates import get_adsorbate
from metalegnet.surface.placement import upright_positions

pytest.importorskip("pymatgen.analysis.adsorption")

from metalegnet.surface.sitefinder import match_sites, pymatgen_sites  # noqa: E402


def test_pymatgen_sites_unreduced_and_reduced_on_fcc111():
    slab = fcc111("Pt", (2, 2, 4), vacuum=8.0)
    full, reduced = pymatgen_sites(slab), pymatgen_sites(slab, symm_reduce=True)
    kinds = [s.kind for s in full]
    assert (kinds.count("ontop"), kinds.count("bridge"), kinds.count("hollow")) == (4, 12, 8)
    assert len(reduced) == 4
    idx = match_sites(reduced, full, slab.cell)
    assert [full[i].kind for i in idx] == [s.kind for s in reduced]
    top = full[kinds.index("ontop")].point
    assert np.isclose(top[2], slab.positions[:, 2].max())


def test_match_sites_uses_the_minimum_image_and_refuses_strangers():
    slab = fcc100("Cu", (2, 2, 3), vacuum=8.0)
    full = pymatgen_sites(slab)
    shifted = [type(s)(s.kind, s.point + slab.cell[0]) for s in full[:3]]
    assert match_sites(shifted, full, slab.cell) == [0, 1, 2]
    odd = [type(full[0])("ontop", full[0].point + np.array([0.37, 0.11, 0.0]))]
    with pytest.raises(ConfigError, match="not among"):
        match_sites(odd, full, slab.cell)


def test_upright_pose_sits_over_the_point_at_contact_height_and_tilts():
    slab = fcc111("Cu", (2, 2, 3), vacuum=8.0)
    ads = get_adsorbate("CO")
    top = slab.positions[np.argmax(slab.positions[:, 2])]
    pos = upright_positions(slab, ads, top)
    b = ads.binding_indices[0]
    assert np.allclose(pos[b, :2], top[:2])
    contact = covalent_radii[6] + covalent_radii[29] + 0.1
    assert np.isclose(pos[b, 2] - top[2], contact, atol=1e-6)
    other = 1 - b
    assert np.allclose(pos[other, :2], pos[b, :2], atol=1e-9)  # upright: O straight above C
    tilted = upright_positions(slab, ads, top, tilt_deg=30.0, azimuth_deg=0.0)
    v = tilted[other] - tilted[b]
    assert np.isclose(np.degrees(np.arccos(v[2] / np.linalg.norm(v))), 30.0)
    assert v[0] > 0 and abs(v[1]) < 1e-9

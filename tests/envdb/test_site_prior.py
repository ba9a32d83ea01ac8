"""The site prior: offsets from groups of one adsorbate on one slab, fallbacks, SEAM's use."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import add_adsorbate, fcc111

from metalegnet.envdb import EnvDB, EnvdbConfig, build_envdb, load_site_prior, load_templates
from metalegnet.envdb.quality import QualityConfig
from metalegnet.envdb.site_prior import SitePrior, adsorbate_name, fit_site_prior, group_key
from metalegnet.seam import SeamConfig, seam
from metalegnet.surface.detect import find_surface_atoms, in_plane_images
from metalegnet.surface.environment import binding_atom
from metalegnet.surface.motifs import find_motifs, motif_label
from metalegnet.surface.sites import classify_site
from tests.envdb.helpers import co_structures
from tests.seam.helpers import alloy_slab, tiny_model


def _o_on(metal: str, site: str, e_ads: float, n: int = 1):
    slab = fcc111(metal, (2, 2, 3), vacuum=8.0)
    slab.set_tags(np.where(slab.positions[:, 2] > slab.positions[:, 2].max() - 0.5, 1, 0))
    for k in range(n):
        add_adsorbate(slab, "O", 1.2, site, offset=(k % 2, k // 2))
    tags = slab.get_tags()
    tags[len(tags) - n:] = 2
    slab.set_tags(tags)
    slab.info.pop("adsorbate_info", None)
    slab.info.update(e_ads=e_ads, adsorbate="O", source="test")
    return slab


def test_offsets_are_shrunk_mean_gaps_to_each_surface_best_site():
    frames = [_o_on("Pt", "fcc", -1.0), _o_on("Pt", "hcp", -0.8), _o_on("Pt", "ontop", 0.0),
              _o_on("Cu", "fcc", -2.0), _o_on("Cu", "ontop", -1.4),
              _o_on("Pd", "fcc", -3.0)]  # one site only: not a group that compares sites
    prior = fit_site_prior(frames)
    table = prior.by_adsorbate["O"]
    assert table["fcc"] == pytest.approx(0.0)
    assert table["hcp"] == pytest.approx(0.2 / 2, abs=1e-5)  # one group, plus the pseudo-count
    assert table["top"] == pytest.approx((1.0 + 0.6) / 3, abs=1e-5)
    assert prior.groups["O"] == {"fcc": 2, "hcp": 1, "top": 2}
    # an unseen adsorbate falls back to its binding element, an unseen element to None
    assert prior.offset("HO", "O", "top") == pytest.approx(prior.by_element["O"]["top"])
    assert prior.offset("N", "N", "top") is None
    assert SitePrior.from_json(prior.to_json()) == prior


def test_groups_separate_coverages_and_name_the_single_adsorbate():
    one, four = _o_on("Pt", "fcc", -1.0), _o_on("Pt", "fcc", -4.0, n=4)
    assert group_key(one) != group_key(four)
    assert adsorbate_name(four) == "O"
    four.info["adsorbate"] = "OH"
    assert adsorbate_name(four) == "HO"
    four.info["adsorbate"] = "not a formula"
    assert adsorbate_name(four) == "O4"


@pytest.mark.parametrize("metal", ["Pt", "Cu"])
def test_motif_labels_match_the_site_names_of_adsorbates_placed_there(metal):
    slab = fcc111(metal, (2, 2, 3), vacuum=8.0)
    slab.set_tags(np.where(slab.positions[:, 2] > slab.positions[:, 2].max() - 0.5, 1, 0))
    motifs = find_motifs(slab, find_surface_atoms(slab))
    images = in_plane_images(slab)
    labels = {motif_label(slab, m, images) for m in motifs}
    assert labels == {"top", "bridge", "fcc", "hcp"}
    for m in motifs:
        ads = slab.copy()
        ads.append("O")
        ads.positions[-1] = m.position + [0.0, 0.0, 1.2]
        tags = ads.get_tags()
        tags[-1] = 2
        ads.set_tags(tags)
        assert classify_site(ads, binding_atom(ads)) == motif_label(slab, m, images)


def test_build_stores_the_prior_and_seam_ranks_by_it(tmp_path):
    model, structures = tiny_model(), co_structures()
    for a in structures:  # make hcp the best site by 1 eV on both slabs
        a.info["e_ads"] -= 1.0 if a.info["sid"].endswith("hcp") else 0.0
    path = str(tmp_path / "env.db")
    build_envdb(model, structures, path, EnvdbConfig(chunk=4, quality=QualityConfig("none")))
    prior = load_site_prior(path)
    assert prior is not None and prior.by_adsorbate["CO"]["hcp"] == pytest.approx(0.0)
    assert min(v for k, v in prior.by_adsorbate["CO"].items() if k != "hcp") > 0.6
    templates = load_templates(path)
    slab = alloy_slab(0, size=(2, 2, 3), n_pt=4)
    off = seam(slab, "CO", templates, model, SeamConfig(top_k=3, prior_weight=0.0), prior)
    assert off.proposals[0].motif_label != "hcp"  # without the prior another site wins here
    assert all(p.prior is not None for p in off.proposals)  # reported, not scored
    ranked = seam(slab, "CO", templates, model, SeamConfig(top_k=3), prior)
    assert ranked.proposals[0].motif_label == "hcp"
    assert ranked.proposals[0].prior == pytest.approx(0.0)
    assert ranked.proposals[0].atoms.info["site_label"] == "hcp"
    plain = seam(slab, "CO", templates, model, SeamConfig(top_k=3))
    assert [p.score for p in off.proposals] == pytest.approx([p.score for p in plain.proposals])
    # a database built before priors were stored has none
    db = EnvDB(path, create=False)
    meta = db.metadata
    meta.pop("site_prior")
    db.db.metadata = meta
    assert load_site_prior(path) is None


def test_step_edge_sites_get_their_own_label_and_fall_back_to_the_flat_one():
    from ase.build import fcc211

    from metalegnet.surface.sites import step_edge_atoms, with_step

    flat = fcc111("Pt", (2, 2, 3), vacuum=8.0)
    assert len(step_edge_atoms(flat, find_surface_atoms(flat, "geometry"))) == 0
    step = fcc211("Pt", (3, 2, 4), vacuum=8.0)
    step.set_tags(0)
    surface = find_surface_atoms(step, "geometry")
    edge = step_edge_atoms(step, surface)
    assert 0 < len(edge) < len(surface)
    z = step.positions[:, 2]
    assert np.allclose(z[edge], z[surface].max())  # the edge is the highest row
    motifs = find_motifs(step, surface)
    labels = {with_step(motif_label(step, m), m.atoms, edge) for m in motifs}
    assert {"top-step", "top", "bridge-step"} <= labels
    prior = SitePrior({"O": {"bridge": 0.3, "bridge-step": 0.0, "top": 1.0}})
    assert prior.offset("O", "O", "bridge-step") == 0.0
    assert prior.offset("O", "O", "top-step") == 1.0  # not in the table: the flat label's
    assert prior.offset("O", "O", "hollow-4") == pytest.approx((0.3 + 0.0 + 1.0) / 3)

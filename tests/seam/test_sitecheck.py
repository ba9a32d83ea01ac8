"""Pieces of the real-DFT site check: grouping and matching a proposal to a DFT structure."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import add_adsorbate, fcc111

from metalegnet.bench.seam import results_markdown
from metalegnet.errors import ConfigError
from metalegnet.seam.sitecheck import (
    GroupResult,
    SiteCheckConfig,
    group_structures,
    pick_structure,
    summarise,
)


def _site(site: str, e: float, coverage: float = 0.25):
    slab = fcc111("Pt", (2, 2, 3), vacuum=8.0)
    add_adsorbate(slab, "O", 1.2, site)
    slab.info = {"metal": "Pt", "adsorbate": "O", "coverage": coverage, "site": site,
                 "e_ads": e}
    return slab


def test_groups_need_every_site_and_skip_clean_slabs():
    frames = [_site(s, e) for s, e in (("fcc", -1.0), ("hcp", -0.9), ("bridge", -0.7),
                                       ("ontop", -0.2))]
    frames += [_site("fcc", -1.0, 0.5), _site("hcp", -1.0, 0.5)]  # only 2 sites
    clean = fcc111("Pt", (2, 2, 3), vacuum=8.0)
    clean.info = {"metal": "Pt", "adsorbate": "O", "coverage": 0.0, "site": "fcc",
                  "e_ads": 0.0}
    groups = group_structures(frames + [clean], "xu-kitchin")
    assert list(groups) == ["Pt|O|0.25"] and len(groups["Pt|O|0.25"]) == 4


def test_pick_is_the_laterally_closest_binding_atom_modulo_the_cell():
    group = [_site(s, 0.0) for s in ("fcc", "hcp", "bridge", "ontop")]
    for i, g in enumerate(group):
        moved = g.copy()
        moved.positions[-1, :2] += moved.cell[0, :2]  # one lattice vector away
        moved.positions[-1, 2] += 0.3
        assert pick_structure(moved, group) == i


def test_summary_rates_and_table():
    rs = [GroupResult("a", 4, "fcc", {}, seam_gap=0.0, model_gap=0.05, prior_gap=0.3),
          GroupResult("b", 4, "fcc", {}, seam_gap=0.2, model_gap=np.nan, prior_gap=0.0)]
    s = summarise(rs)
    assert s["seam"] == {"n": 2, "exact": 0.5, "within_0.1": 0.5}
    assert s["model_on_dft"]["within_0.1"] == 0.5 and s["prior"]["exact"] == 0.5
    s["config"] = {"data": "xu-kitchin", "folds": 2, "num_features": 8, "num_blocks": 1,
                   "epochs": 1, "max_train_s": 1.0}
    s["seconds"] = 1.0
    assert "always-fcc (quoted)" in results_markdown(s, "cmd")
    assert "placed-pose" not in results_markdown(s, "cmd")
    s["config"]["augment_copies"] = 2
    assert "2 placed-pose variants of each" in results_markdown(s, "cmd")
    with pytest.raises(ConfigError):
        SiteCheckConfig(augment_copies=-1)


def test_fold_training_takes_every_structure_outside_the_held_out_groups():
    from metalegnet.seam.sitecheck import training_structures

    test_group = [_site(s, e) for s, e in (("fcc", -1.0), ("hcp", -0.9), ("bridge", -0.7),
                                           ("ontop", -0.2))]
    other = [_site(s, e, 0.5) for s, e in (("fcc", -0.8), ("hcp", -0.6))]  # 2 labels only
    repeat = _site("fcc", -0.7, 0.5)  # a second fcc structure of the same group
    frames = test_group + other + [repeat]
    groups = group_structures(frames, "xu-kitchin")
    assert list(groups) == ["Pt|O|0.25"]
    held = {"Pt|O|0.25"}
    every = training_structures(frames, "xu-kitchin", held, groups, [], "all")
    assert len(every) == 3 and all(a.info["coverage"] == 0.5 for a in every)
    # the old protocol: only the other folds' check groups (none here)
    assert training_structures(frames, "xu-kitchin", held, groups, [], "groups") == []
    # the rule's groups: two labels are enough there, the lowest of a repeated label kept
    rule = group_structures(every, "xu-kitchin", min_sites=2)
    assert {a.info["site"]: a.info["e_ads"] for a in rule["Pt|O|0.5"]} == {"fcc": -0.8,
                                                                           "hcp": -0.6}


def test_centred_targets_subtract_the_group_mean_and_drop_singletons():
    from metalegnet.seam.sitecheck import centre_by_group

    frames = [_site(s, e) for s, e in (("fcc", -1.0), ("hcp", -0.8), ("bridge", -0.3))]
    frames.append(_site("fcc", -2.0, 0.5))  # alone in its group: nothing to compare with
    out = centre_by_group(frames, "xu-kitchin")
    assert [a.info["site"] for a in out] == ["fcc", "hcp", "bridge"]
    assert [a.info["e_ads"] for a in out] == pytest.approx([-0.3, -0.1, 0.4])
    assert frames[0].info["e_ads"] == -1.0  # the inputs are left as they were
    # the differences within the group, which decide the ranking, are unchanged
    assert out[1].info["e_ads"] - out[0].info["e_ads"] == pytest.approx(0.2)
    s = summarise([GroupResult("g", 4, "fcc", {}, seam_gap=0.0, model_gap=0.0, prior_gap=0.0)])
    s["config"] = {**SiteCheckConfig(centre_targets=True).__dict__}
    s["seconds"] = 1.0
    assert "group-centred adsorption energies" in results_markdown(s, "cmd")
    with pytest.raises(ConfigError):
        SiteCheckConfig(centre_targets=1)

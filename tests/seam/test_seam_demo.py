"""The demo hook: database from the training data, SEAM on an unseen random-alloy slab."""

from __future__ import annotations

import ase.io

from metalegnet.checkpoint import save_checkpoint
from metalegnet.seam.demo import markdown_section, seam_demo, unseen_alloy_slab
from tests.envdb.helpers import co_structures
from tests.seam.helpers import tiny_model


def test_seam_demo_writes_db_and_ranked_poses(tmp_path):
    ckpt = tmp_path / "tiny.pt"
    save_checkpoint(ckpt, tiny_model(), "legnet")
    result = seam_demo(ckpt, co_structures(), tmp_path / "demo", top_k=3, quality="none")
    assert result["adsorbate"] == "CO" and (tmp_path / "demo" / "environments.db").exists()
    frames = ase.io.read(tmp_path / "demo" / "seam" / "proposals.extxyz", ":")
    assert 1 <= len(frames) <= 3 and frames[0].info["rank"] == 1
    assert "Cu" in result["slab_description"] and "Pt" in result["slab_description"]
    text = markdown_section(result)
    assert "| 1 |" in text and "ase gui" in text


def test_unseen_alloy_slab_is_tagged_and_held():
    slab = unseen_alloy_slab(["Cu", "Pt"], seed=1)
    tags = slab.get_tags()
    assert (tags == 1).sum() == 9 and (tags == 2).sum() == 0
    assert len(slab.constraints[0].get_indices()) == 18
    assert sorted(set(slab.get_chemical_symbols())) == ["Cu", "Pt"]

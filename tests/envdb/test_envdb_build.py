"""Environment database: round trips, dedup, resume after a kill, FAISS search, families."""

from __future__ import annotations

import numpy as np
import pytest

from metalegnet.envdb import EnvDB, EnvdbConfig, build_envdb, load_templates, query_like
from metalegnet.envdb.quality import QualityConfig, quality_tier
from metalegnet.seam import SeamConfig, seam
from metalegnet.surface.detect import with_oc20_tags
from tests.envdb.helpers import co_structures
from tests.seam.helpers import alloy_slab, tiny_model

FAST = EnvdbConfig(chunk=4, quality=QualityConfig(mode="none"))


def test_build_round_trip_and_templates_feed_seam(tmp_path):
    model, structures = tiny_model(), co_structures()
    path = str(tmp_path / "env.db")
    report = build_envdb(model, structures, path, EnvdbConfig(chunk=4), checkpoint="tiny.pt")
    assert report.structures == 8 and report.new + report.merged == 8 and report.rows >= 6
    db = EnvDB(path, create=False)
    assert db.metadata["checkpoint"] == "tiny.pt"
    rows = list(db.rows())
    assert {r.site_type for r in rows} == {"top", "bridge", "hollow-3"}
    for r in rows:
        assert r.adsorbate == "CO" and r.source_energy in (-1.0, -1.1) and 1 <= r.tier <= 3
        assert (np.asarray(r.tags) == 2).sum() == 2 and r.family >= 0
        assert len(r.data["importances"]) == r.natoms == len(r.data["latents"])
        assert {"coordination", "binding_distances", "site_cn"} <= set(r.data["descriptors"])
        assert 0.0 <= r.stability <= 1.0  # full quality mode: a real score
    templates = load_templates(path)
    assert len(templates) == len(rows)
    hollow = next(t for t in templates if t.site_type == "hollow-3")
    assert hollow.site_composition.count("-") == 2 and hollow.adsorbate_formula == "CO"
    result = seam(alloy_slab(0, size=(2, 2, 3), n_pt=4), "CO", templates, model,
                  SeamConfig(top_k=3))
    assert 1 <= len(result.proposals) <= 3


def test_duplicates_merge(tmp_path):
    model = tiny_model()
    a = co_structures(1)[0]
    b = a.copy()
    b.translate(a.cell[0] * 0.5 + a.cell[1] * 0.5)  # a lattice shift of the 2x2 cell
    b.wrap()
    b.info["sid"] = "shifted"
    path = str(tmp_path / "env.db")
    report = build_envdb(model, [a, b], path, FAST)
    assert report.new == 1 and report.merged == 1
    (row,) = EnvDB(path).rows()
    assert row.count == 2 and len(row.data["members"]) == 2
    kept = build_envdb(model, [a, b], str(tmp_path / "all.db"),
                       EnvdbConfig(chunk=4, dedup_rmsd=0.0, quality=QualityConfig(mode="none")))
    assert kept.new == 2


def test_killed_build_keeps_committed_chunks_and_resumes(tmp_path, monkeypatch):
    model, structures = tiny_model(), co_structures()
    path = str(tmp_path / "env.db")
    calls = {"n": 0}
    original = EnvDB.write

    def dying_write(self, entries, dedup_rmsd=0.1):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # killed while the second chunk is being written
        return original(self, entries, dedup_rmsd)

    monkeypatch.setattr(EnvDB, "write", dying_write)
    with pytest.raises(KeyboardInterrupt):
        build_envdb(model, structures, path, FAST)
    monkeypatch.setattr(EnvDB, "write", original)
    assert len(EnvDB(path)) == 4
    resumed = build_envdb(model, structures, path, FAST)
    assert resumed.already_in == 4 and resumed.new + resumed.merged == 4
    fresh = build_envdb(model, structures, str(tmp_path / "fresh.db"), FAST)
    assert resumed.rows == fresh.rows
    assert EnvDB(path).processed_keys() == EnvDB(str(tmp_path / "fresh.db")).processed_keys()


def test_faiss_query_finds_the_structure_itself(tmp_path):
    model, structures = tiny_model(), co_structures()
    path = str(tmp_path / "env.db")
    build_envdb(model, structures, path, FAST)
    assert (tmp_path / "env.db.faiss").exists()
    hits = query_like(model, structures[5], path, k=3)
    assert len(hits) == 3 and hits[0]["sid"] == structures[5].info["sid"]
    assert hits[0]["similarity"] == pytest.approx(1.0, abs=1e-4)
    assert hits[0]["similarity"] >= hits[1]["similarity"] >= hits[2]["similarity"]


def test_quality_tier_rule():
    assert quality_tier(0.9, 0.6, 1.5, False, False) == 1
    assert quality_tier(0.9, 0.1, 1.5, False, False) == 2
    assert quality_tier(0.4, 0.9, 2.0, False, False) == 3
    assert quality_tier(0.9, 0.6, 1.5, True, False) == 3
    assert quality_tier(0.9, 0.6, 1.5, False, True) == 3
    assert quality_tier(float("nan"), 0.6, 1.5, False, False) == 3
    assert quality_tier(float("nan"), 0.6, 1.5, False, False, mode="none") == 2


def test_tags_are_guessed_for_untagged_structures():
    a = co_structures(1)[0]
    a.set_tags(0)
    tagged = with_oc20_tags(a)
    tags = tagged.get_tags()
    assert (tags[-2:] == 2).all() and (tags[:-2] != 2).all() and (tags == 1).sum() == 4

"""Nearest environments of a structure: explain it, take its search vector, ask FAISS."""

from __future__ import annotations

import torch
from ase import Atoms

from metalegnet.envdb.extract import extract_entry
from metalegnet.envdb.index import index_path, load_index, search
from metalegnet.envdb.store import EnvDB
from metalegnet.errors import DataError
from metalegnet.surface.detect import surface_frame, with_oc20_tags


def query_like(model: torch.nn.Module, atoms: Atoms, target: str, k: int = 5,
               index_file: str | None = None) -> list[dict]:
    """The ``k`` stored environments most similar (cosine of search vectors) to the learned
    environment of ``atoms``, best first: one dict per hit (row id, similarity, source sid,
    adsorbate, site type, tier, family, energy in eV)."""
    from metalegnet.explain.environment import explain_structures

    db = EnvDB(target, create=False)
    tagged = with_oc20_tags(surface_frame(atoms))
    ex = explain_structures(model, [tagged], source="query")[0]
    nan = float("nan")
    entry = extract_entry(tagged, ex, {"stability": nan, "overlap": nan, "faithfulness": nan},
                          quality_mode="none")
    if entry is None:
        raise DataError("query structure: no adsorbate found (tag 2 or light atoms on top)")
    index = load_index(index_path(target, index_file))
    if index.ntotal != len(db):
        raise DataError(f"{target}: the FAISS index holds {index.ntotal} entries but the "
                        f"database {len(db)}; rerun 'metalegnet envdb build' to refresh it")
    ids, sims = search(index, entry.vector, k)
    out = []
    for i, s in zip(ids.tolist(), sims.tolist()):
        row = db.db.get(id=int(i))
        out.append({"id": int(i), "similarity": round(float(s), 4), "sid": row.get("sid"),
                    "adsorbate": row.get("adsorbate"), "site_type": row.get("site_type"),
                    "site_composition": row.get("site_composition"), "tier": row.get("tier"),
                    "family": row.get("family"), "energy": row.get("source_energy"),
                    "energy_kind": row.get("energy_kind")})
    return out


__all__ = ["query_like"]

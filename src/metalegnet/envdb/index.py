"""Similarity search on the environments' latent vectors with FAISS (``faiss-cpu``).

The search vector of an entry is ``[mean_i s_i, s_binding]`` (L2-normalised, see
:mod:`metalegnet.envdb.extract`), so the inner product is the cosine similarity. The index is an
exact ``IndexFlatIP`` wrapped in an ``IndexIDMap2`` holding the database row ids, written
(atomically: temporary file, then rename) beside the database as ``<ENV.db>.faiss``; for a
PostgreSQL URL the caller names the file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from metalegnet.errors import DataError


def index_path(target: str, explicit: str | None = None) -> Path:
    """Where the index of database ``target`` lives."""
    if explicit:
        return Path(explicit)
    if "://" in target:
        name = target.rstrip("/").rsplit("/", 1)[-1] or "envdb"
        return Path(f"{name}.faiss")
    return Path(f"{target}.faiss")


def build_index(ids: np.ndarray, vectors: np.ndarray):
    """An exact inner-product index over ``vectors`` labelled with ``ids``."""
    import faiss

    if len(ids) == 0:
        raise DataError("the environment database is empty: nothing to index")
    vec = np.ascontiguousarray(vectors, dtype=np.float32)
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(vec.shape[1]))
    index.add_with_ids(vec, np.ascontiguousarray(ids, dtype=np.int64))
    return index


def save_index(index, path: str | Path) -> Path:
    import faiss

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    faiss.write_index(index, str(tmp))
    os.replace(tmp, path)
    return path


def load_index(path: str | Path):
    import faiss

    if not Path(path).exists():
        raise DataError(f"{path}: no FAISS index (run 'metalegnet envdb build' first)")
    return faiss.read_index(str(path))


def search(index, vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(row ids, cosine similarities) of the ``k`` nearest entries, best first."""
    q = np.ascontiguousarray(np.asarray(vector, np.float32).reshape(1, -1))
    if q.shape[1] != index.d:
        raise DataError(f"query vector has {q.shape[1]} numbers but the index {index.d}: "
                        "was the database built with another model?")
    sims, ids = index.search(q, min(int(k), index.ntotal))
    keep = ids[0] >= 0
    return ids[0][keep], sims[0][keep]

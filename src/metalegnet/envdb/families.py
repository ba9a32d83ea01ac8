"""Families of environments: k-means (scikit-learn) on descriptors and latents.

Features per row: the descriptor vector (:func:`~metalegnet.envdb.descriptors.descriptor_vector`,
over every catalyst element in the database) and the search vector reduced by PCA to at most
8 components; each column standardised (zero mean, unit variance). The number of families is
``round(sqrt(n / 2))`` (at least 1, at most n) unless given; k-means with 10 seeded starts.
"""

from __future__ import annotations

import numpy as np

from metalegnet.envdb.descriptors import descriptor_vector


def family_features(rows) -> np.ndarray:
    """The feature matrix of the module docstring."""
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    elements = sorted({s for r in rows for s, t in zip(r.symbols, r.tags) if t != 2})
    desc = np.stack([descriptor_vector(r.data["descriptors"], r.symbols, np.asarray(r.tags) == 2,
                                       elements) for r in rows])
    vec = np.stack([np.asarray(r.data["vector"], float) for r in rows])
    n_pc = min(8, len(rows), vec.shape[1])
    lat = PCA(n_components=n_pc, random_state=0).fit_transform(vec) if len(rows) > 1 else vec
    return StandardScaler().fit_transform(np.hstack([desc, lat]))


def assign_families(rows, n_families: int | None = None, seed: int = 0) -> np.ndarray:
    """Family label of every row."""
    from sklearn.cluster import KMeans

    n = len(rows)
    if n == 0:
        return np.zeros(0, int)
    k = n_families or max(1, int(round(np.sqrt(n / 2.0))))
    k = min(k, n)
    if k == 1:
        return np.zeros(n, int)
    x = family_features(rows)
    return KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(x)

"""Small structures for the environment-database tests: CO on 2x2 Cu-Pt (111) slabs."""

from __future__ import annotations

from tests.seam.helpers import alloy_slab, co_adslab


def co_structures(n_slabs: int = 2) -> list:
    out = []
    for seed in range(n_slabs):
        slab = alloy_slab(seed, size=(2, 2, 3), n_pt=4)
        for site in ("fcc", "hcp", "ontop", "bridge"):
            a = co_adslab(slab, site, tilt=0.0)
            a.info.update(sid=f"s{seed}-{site}", e_ads=-1.0 - 0.1 * seed, adsorbate="CO")
            out.append(a)
    return out

"""Voxel pooling, the coarse graph and assignment-based upsampling (paper eqs. 5-13).

Assignment (eq. 5). For the nodes of graph G (atoms, or the coarse nodes of the previous
level) with coordinates x_i, origin o_G and voxel size s (Å):

    k_i = floor((x_i - o_G) / s),        a(i) = index of the unique key (G, k_i)

Two voxel frames:

* ``"cartesian"`` (the paper): x_i are Cartesian positions. *Not* invariant to rotations (a
  rotated structure can fall on other voxel keys, paper §2.4.2).
* ``"cell"`` (beyond the paper): for periodic graphs, x_i are fractional coordinates
  f_i = x_i · cell^-1, binned with n_k = max(1, round(|a_k| / s)) bins along periodic lattice
  vector a_k (they tile the cell image, so only the origin modulo one bin matters there) and
  |a_k| / s per unit along a non-periodic one. Rotating positions and cell together leaves f_i,
  hence the assignment, unchanged. Non-periodic graphs (clusters) have no cell, so they fall
  back to the Cartesian frame.

In both frames positions are first wrapped into one cell image along periodic axes, so a
structure and its wrapped copy have the same assignment. The origin o_G is

* ``"min"`` / ``"mean"`` (the paper): coordinate-wise minimum or mean of the wrapped
  coordinates. A translation that carries atoms across the periodic boundary changes it.
* ``"adsorbate"`` (beyond the paper, the default): the minimum-image centroid of the tag-2 atoms;
  the cell image is centred on it and one voxel is centred on it. The grid then moves with the
  structure. Graphs without tag-2 atoms use ``"min"``.

Ties (the grid offset ε). Every boundary the assignment tests — voxel faces and the faces of
the cell image atoms are wrapped into — is moved by ``GRID_OFFSET`` ε ≈ 5.8e-4 voxel below its
nominal place (voxel ``k`` of the anchored grid spans [k - 1/2 - ε, k + 1/2 - ε) voxels about
the anchor; the ``min`` grid starts ε below the lowest node; voxel counts are
floor(|a_k|/s + 1/2 + ε)). Real slabs put atoms *exactly* on the nominal boundaries: the
anchor usually sits on a lattice point or a high-symmetry site, so the lattice points half a
voxel and half a cell away from it are lattice points too, and a pooled node (the mean of a
symmetric set of atoms) lands on them as well. There floor() decided by the sign of the
~1e-16 (float64) or ~1e-7 (float32) rounding of a rotated or translated copy, so an atom
changed voxel, or a node of a one-voxel-wide axis changed cell image (its mean moved by a
lattice vector): on the first frames of oc20-mini this moved energies by up to 1e-1 and
forces by 3e-1 relative in float64 (``full``, random weights, ``cell`` frame; see
``benchmarks/results/invariance.md``), and more in float32. With the offset a node on a
nominal boundary sits ε inside the voxel above it, which is what exact arithmetic with
half-open voxels gives, and the assignment is unchanged for every node farther than ε from a
boundary.

What is exact (every property holds up to floating-point rounding of the network itself):

* ``cell`` frame, ``adsorbate`` origin, periodic graphs: rotating positions and cell together,
  translating by any vector (with or without wrapping back), wrapping single atoms by lattice
  vectors, permuting atoms.
* ``cartesian`` frame, ``adsorbate`` origin: translations, wrapping and permutations.
* ``min`` / ``mean`` origin: permutations, wrapping by lattice vectors, translations that
  keep every atom inside the cell and (``cell`` frame) rotations.

What is not: rotations in the ``cartesian`` frame and of clusters in either frame (Cartesian
voxels); translations across the periodic boundary with a ``min`` / ``mean`` origin; and, in
every setting, a node whose coordinate lies within the rounding error (≈1e-6 voxel in float32)
of an *offset* boundary, i.e. ε from a nominal one, which real structures reach only by
chance (and an adsorbate wider than half the cell, whose minimum-image centroid is
ambiguous). The assignment is piecewise constant, so energies jump when a node crosses a voxel
boundary (an MD step or a finite difference across it); forces are the gradients of the
energy at fixed assignment.

Pooling (eqs. 6-8) is the mean over members:  s̄_c = mean s_i,  v̄_c = mean v_i,  x̄_c = mean x_i.
Upsampling (eqs. 12-13) copies back:  s^up_i = s̄_{a(i)},  v^up_i = v̄_{a(i)}.
For a fixed assignment both are SE(3)-equivariant (means of equivariant quantities).
The coarse graph (:func:`radius_graph_pbc`) takes every periodic image within its cutoff.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

#: ε: tie-breaking offset of every voxel and cell-image boundary, in voxels (module docstring).
#: Far above the rounding noise of a coordinate (~1e-6 voxel in float32) and far below any
#: physical displacement; an irrational number, so it is no simple fraction of a lattice.
GRID_OFFSET = 1e-3 / math.sqrt(3.0)


@dataclass
class VoxelAssignment:
    """Result of :func:`voxel_assign`: ``index[i]`` is the coarse node of node ``i``."""

    index: torch.Tensor  # [n_nodes] long
    num_coarse: int
    batch: torch.Tensor  # [num_coarse] long, graph of each coarse node


def usable_cell(cell: torch.Tensor, pbc: torch.Tensor) -> torch.Tensor:
    """Cells ``[G, 3, 3]`` made invertible: a (near-)zero lattice vector on a non-periodic axis
    is replaced by a long vector (1000 Å) normal to the other two, or the identity row when the
    graph has no periodic axis. Periodic vectors are kept as they are."""
    cell = cell.clone()
    lengths = cell.norm(dim=-1)  # [G, 3]
    eye = torch.eye(3, dtype=cell.dtype, device=cell.device)
    for k in range(3):
        bad = (~pbc[:, k]) & (lengths[:, k] < 1e-8)
        if bool(bad.any()):
            a, b = cell[:, (k + 1) % 3], cell[:, (k + 2) % 3]
            normal = torch.linalg.cross(a, b)
            nn_ = normal.norm(dim=-1, keepdim=True)
            fallback = eye[k].expand_as(normal) * 1e3
            vec = torch.where(nn_ > 1e-8, normal / nn_.clamp_min(1e-12) * 1e3, fallback)
            cell[:, k] = torch.where(bad.unsqueeze(-1), vec, cell[:, k])
    # graphs with no periodic axis and a singular cell: use a large cubic box
    det = torch.linalg.det(cell).abs()
    singular = det < 1e-6
    if bool(singular.any()):
        cell[singular] = eye * 1e3
    return cell


def _graph_reduce(x: torch.Tensor, batch: torch.Tensor, num_graphs: int, how: str) -> torch.Tensor:
    out_shape = (num_graphs,) + x.shape[1:]
    idx = batch.view(-1, *([1] * (x.dim() - 1))).expand_as(x)
    if how == "min":
        out = torch.full(out_shape, math.inf, dtype=x.dtype, device=x.device)
        return out.scatter_reduce(0, idx, x, reduce="amin", include_self=True)
    out = torch.zeros(out_shape, dtype=x.dtype, device=x.device)
    return out.scatter_reduce(0, idx, x, reduce="mean", include_self=False)


def adsorbate_anchor(pos: torch.Tensor, batch: torch.Tensor, tags: torch.Tensor,
                     num_graphs: int, cell: torch.Tensor, pbc: torch.Tensor,
                     inv: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Fractional centroid of each graph's adsorbate (tag 2), minimum image on periodic axes.

    Returns ``(anchor [G, 3], anchored [G] bool)``; graphs without tag-2 atoms are not anchored.
    The anchor moves with any translation (and by whole lattice vectors under wrapping), so a
    voxel grid centred on it is translation- and wrap-invariant. Adsorbate atoms are taken at
    their minimum image relative to one of them, so an adsorbate split by the cell boundary has
    the centroid of its unsplit copy (an adsorbate wider than half the cell is ambiguous).
    ``inv``: :func:`inverse_cell` of ``cell`` if already computed.
    """
    with torch.no_grad():
        inv = inverse_cell(cell) if inv is None else inv
        frac = torch.einsum("nk,nkl->nl", pos.detach(), inv[batch])
        ads = tags == 2
        anchored = torch.zeros(num_graphs, dtype=torch.bool, device=pos.device)
        anchored[batch[ads]] = True
        anchor = torch.zeros(num_graphs, 3, dtype=pos.dtype, device=pos.device)
        if bool(ads.any()):
            idx = torch.nonzero(ads).squeeze(1)
            g = batch[idx]
            first = torch.full((num_graphs,), -1, dtype=torch.long, device=pos.device)
            first = first.scatter_reduce(0, g, idx, reduce="amax", include_self=True)
            ref = frac[first[g]]
            d = frac[idx] - ref
            d = torch.where(pbc[g], d - torch.round(d), d)
            mean_d = _graph_reduce(d, g, num_graphs, "mean")
            anchor = torch.where(anchored.unsqueeze(1), frac[first.clamp(min=0)] + mean_d, anchor)
    return anchor, anchored


def _bins(cell: torch.Tensor, pbc: torch.Tensor, voxel_size: float) -> torch.Tensor:
    """Voxels per unit fractional coordinate: floor(|a_k|/s + 1/2 + ε) (>= 1) on periodic
    axes (round half up, robust to rounding of |a_k|), |a_k|/s on non-periodic ones."""
    lengths = cell.norm(dim=-1)
    n = torch.floor(lengths / voxel_size + (0.5 + GRID_OFFSET))
    return torch.where(pbc, torch.clamp(n, min=1.0), lengths / voxel_size)


def wrap_origin(cell: torch.Tensor, pbc: torch.Tensor, voxel_size: float, frame: str,
                anchor: torch.Tensor | None = None, anchored: torch.Tensor | None = None
                ) -> torch.Tensor:
    """Fractional corner w_G of the cell image that atoms are wrapped into, ``[G, 3]``.

    Unanchored graphs: the cell itself, w = -ε/n_k on periodic axes (an atom at f = 0 stays
    there, one at f = 1 is wrapped to 0). Anchored graphs: the image is centred on the anchor
    so the adsorbate is never split by the boundary; in the ``cell`` frame the voxel
    containing the anchor is centred on it (up to ε) and the n_k voxels tile the image exactly.
    """
    with torch.no_grad():
        n = _bins(cell.detach(), pbc, voxel_size)
        eps = GRID_OFFSET / n.clamp(min=1e-12)  # ε voxels, in fractional units
        w = torch.where(pbc, -eps, torch.zeros_like(eps))
        if anchor is None or anchored is None or not bool(anchored.any()):
            return w
        if frame == "cell":
            centre = torch.where(pbc, torch.floor(n / 2), torch.zeros_like(n))
            half = (centre + 0.5) / n.clamp(min=1e-12) + eps
        else:
            half = torch.where(pbc, 0.5 + eps, torch.zeros_like(eps))
        return torch.where(anchored.unsqueeze(1), anchor - half, w)


def voxel_assign(pos: torch.Tensor, batch: torch.Tensor, num_graphs: int, cell: torch.Tensor,
                 pbc: torch.Tensor, voxel_size: float, frame: str = "cell",
                 origin: str = "min", w: torch.Tensor | None = None,
                 anchor: torch.Tensor | None = None, anchored: torch.Tensor | None = None,
                 inv: torch.Tensor | None = None) -> VoxelAssignment:
    """Eq. 5: group nodes by voxel key. ``cell`` must come from :func:`usable_cell`.

    Args:
        pos: ``[n, 3]`` Cartesian node positions (Å), already wrapped with
            :func:`wrap_positions` into the image starting at ``w``.
        batch: ``[n]`` graph index of each node.
        cell, pbc: ``[G, 3, 3]`` and ``[G, 3]``.
        voxel_size: edge length s of a voxel (Å).
        frame: ``"cartesian"`` or ``"cell"`` (see the module docstring).
        origin: ``"min"``, ``"mean"`` or ``"adsorbate"`` (graphs without tag-2 atoms use
            ``"min"``).
        w: wrap origin from :func:`wrap_origin` (zeros if omitted).
        anchor, anchored: from :func:`adsorbate_anchor` (``origin="adsorbate"`` only).
        inv: :func:`inverse_cell` of ``cell`` (computed here if omitted).
    """
    if frame not in ("cartesian", "cell"):
        raise ValueError(f"unknown voxel frame {frame!r} (use 'cartesian' or 'cell')")
    with torch.no_grad():
        cell = cell.detach()
        inv = inverse_cell(cell) if inv is None else inv
        frac = torch.einsum("nk,nkl->nl", pos.detach(), inv[batch])
        if w is None:
            w = torch.zeros_like(cell[:, :, 0])
        rel = frac - w[batch]  # in [0, 1) on periodic axes after wrap_positions
        periodic_graph = pbc.any(dim=1)
        if anchored is None or anchor is None or origin != "adsorbate":
            anchored = torch.zeros(num_graphs, dtype=torch.bool, device=pos.device)
            anchor = torch.zeros_like(w)
        bins = _bins(cell, pbc, voxel_size)
        cart = torch.einsum("nk,nkl->nl", rel, cell[batch]) / voxel_size
        cell_axes = (pbc & periodic_graph.unsqueeze(1)) if frame == "cell" else \
            torch.zeros_like(pbc)  # [G, 3]: periodic axes binned in fractional coordinates
        if frame == "cell":
            coords = torch.where(periodic_graph[batch].unsqueeze(-1), rel * bins[batch], cart)
        else:
            coords = cart
        # origin o_G in voxel units, ε below the lowest / mean node (ties, module docstring)
        how = "mean" if origin == "mean" else "min"
        o = _graph_reduce(coords, batch, num_graphs, how) - GRID_OFFSET
        # periodic cell axes: the n_k voxels tile the image [0, n_k); only o mod 1 matters
        o = torch.where(cell_axes, o - torch.floor(o), o)
        if bool(anchored.any()):
            a_rel = anchor - w
            a_coords = torch.einsum("gk,gkl->gl", a_rel, cell) / voxel_size
            centred = a_coords - (0.5 + GRID_OFFSET)  # the anchor's voxel is centred on it
            if frame == "cell":  # w already centres the grid on the anchor
                a_frac = a_rel * bins
                centred = torch.where(periodic_graph.unsqueeze(-1),
                                      torch.zeros_like(a_frac), centred)
            o = torch.where(anchored.unsqueeze(1), centred, o)
        keys = torch.floor(coords - o[batch]).to(torch.long)
        # periodic cell axes: keys lie in [-1, n_k - 1] (-1 and n_k - 1: the two parts of the
        # voxel cut by the image boundary, kept apart so that no voxel spans the cut); clamp
        # only rounding at the image faces
        nmax = (bins - 1).long()[batch]
        keys = torch.where(cell_axes[batch], torch.minimum(keys.clamp(min=-1), nmax), keys)
        index, num_coarse, coarse_batch = _group_keys(batch, keys, num_graphs)
    return VoxelAssignment(index=index, num_coarse=num_coarse, batch=coarse_batch)


def _group_keys(batch: torch.Tensor, keys: torch.Tensor, num_graphs: int
                ) -> tuple[torch.Tensor, int, torch.Tensor]:
    """Coarse node of every row ``(batch_i, keys_i)``: the rank of the row among the distinct
    rows in lexicographic order (``torch.unique(dim=0)``), with the graph of each coarse node.

    The rows are packed into one int64 code, ``((b * R_0 + k_0) * R_1 + k_1) * R_2 + k_2``
    with each key column shifted to start at 0 and R_k its range, which keeps the
    lexicographic order; a 1-D ``unique`` of the codes is much cheaper than ``unique(dim=0)``
    (sort of rows). Key ranges too large for 63 bits fall back to ``unique(dim=0)``.
    """
    if keys.shape[0] == 0:
        return (torch.zeros(0, dtype=torch.long, device=keys.device), 0,
                torch.zeros(0, dtype=torch.long, device=keys.device))
    lo = keys.amin(dim=0)
    shifted = keys - lo
    ranges = (shifted.amax(dim=0) + 1).tolist()
    if num_graphs * math.prod(ranges) < 2 ** 62:
        code = batch.clone()
        for k, r in enumerate(ranges):
            code = code * r + shifted[:, k]
        uniq, index = torch.unique(code, return_inverse=True)
        return index, int(uniq.shape[0]), torch.div(uniq, math.prod(ranges),
                                                     rounding_mode="floor")
    full = torch.cat([batch.unsqueeze(1), keys], dim=1)
    uniq, index = torch.unique(full, dim=0, return_inverse=True)
    return index, int(uniq.shape[0]), uniq[:, 0].clone()


def inverse_cell(cell: torch.Tensor) -> torch.Tensor:
    """``cell^-1`` ``[G, 3, 3]`` (no gradient), for fractional coordinates ``f = x cell^-1``.

    Computed once per forward pass (:meth:`LegNet._multiscale`) and passed to
    :func:`adsorbate_anchor`, :func:`wrap_positions` and :func:`voxel_assign`."""
    with torch.no_grad():
        return torch.linalg.inv(cell.detach())


def wrap_positions(pos: torch.Tensor, batch: torch.Tensor, cell: torch.Tensor,
                   pbc: torch.Tensor, w: torch.Tensor | None = None,
                   inv: torch.Tensor | None = None) -> torch.Tensor:
    """Positions wrapped along periodic axes into the cell image whose fractional corner is
    ``w`` (default 0), i.e. x - floor(f - w)·cell (a constant shift, so gradients pass).
    ``inv``: :func:`inverse_cell` of ``cell`` (computed here if omitted)."""
    with torch.no_grad():
        inv = inverse_cell(cell) if inv is None else inv
        frac = torch.einsum("nk,nkl->nl", pos.detach(), inv[batch])
        if w is not None:
            frac = frac - w[batch]
        shift = torch.where(pbc[batch], torch.floor(frac), torch.zeros_like(frac))
    return pos - torch.einsum("nk,nkl->nl", shift, cell[batch])


def pool_counts(index: torch.Tensor, num_coarse: int, dtype: torch.dtype) -> torch.Tensor:
    """Members of every coarse node, ``[num_coarse]`` in ``dtype`` (for :func:`mean_pool`)."""
    return torch.zeros(num_coarse, dtype=dtype, device=index.device).index_add(
        0, index, torch.ones_like(index, dtype=dtype))


def mean_pool(x: torch.Tensor, index: torch.Tensor, num_coarse: int,
              count: torch.Tensor | None = None) -> torch.Tensor:
    """Eqs. 6-8: x̄_c = mean_{i: a(i)=c} x_i for features of any trailing shape.
    ``count``: :func:`pool_counts` of the assignment, if already computed."""
    out = torch.zeros((num_coarse,) + x.shape[1:], dtype=x.dtype, device=x.device)
    out = out.index_add(0, index, x)
    if count is None:
        count = pool_counts(index, num_coarse, x.dtype)
    return out / count.to(x.dtype).view(-1, *([1] * (x.dim() - 1)))


def upsample(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Eqs. 12-13: x^up_i = x̄_{a(i)}."""
    return x.index_select(0, index)


def radius_graph_pbc(pos: torch.Tensor, batch: torch.Tensor, cell: torch.Tensor,
                     pbc: torch.Tensor, cutoff: float, max_images: int | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Radius graph of the (few) coarse nodes, all on the device, with periodic images.

    Returns ``edge_index`` ``[2, E]`` (centre c, neighbour d) and the edge vectors
    ``r_cd = x_d - x_c + S·cell`` ``[E, 3]`` (differentiable): every pair (and every image of
    a pair, and a node's own images) closer than ``cutoff``. Dense over node pairs of the
    same graph, which is cheap for coarse graphs (tens of nodes per graph).

    The nodes of a graph must lie in one cell image (fractional differences in (-1, 1) on
    periodic axes, as :func:`wrap_positions` and pooling leave them); then
    ceil(cutoff / h_k) images along axis k (h_k the layer spacing) find every neighbour.
    ``max_images``: raise instead of building more images than this per axis and side
    (None: no limit).
    """
    device = pos.device
    n = pos.shape[0]
    counts = torch.bincount(batch, minlength=cell.shape[0])
    starts = torch.cumsum(counts, 0) - counts
    rep = counts[batch]
    src = torch.repeat_interleave(torch.arange(n, device=device), rep)
    local = torch.arange(src.shape[0], device=device) - torch.repeat_interleave(
        torch.cumsum(rep, 0) - rep, rep)
    dst = starts[batch[src]] + local
    # number of images per axis from the perpendicular heights h_k = V / |a_l x a_m|
    with torch.no_grad():
        c = cell.detach()
        vol = torch.linalg.det(c).abs()
        heights = torch.stack([vol / torch.linalg.cross(c[:, (k + 1) % 3],
                                                          c[:, (k + 2) % 3]).norm(dim=-1)
                               for k in range(3)], dim=1)
        reps = torch.where(pbc, torch.ceil(cutoff / heights), torch.zeros_like(heights))
        reps = reps.amax(dim=0).long().tolist() if reps.numel() else [0, 0, 0]
    if max_images is not None and max(reps) > max_images:
        raise ValueError(f"radius_graph_pbc: a {cutoff:g} Å cutoff needs {max(reps)} cell "
                         f"images per side, more than max_images={max_images}")
    ranges = [torch.arange(-r, r + 1, device=device, dtype=pos.dtype) for r in reps]
    shifts = torch.cartesian_prod(*ranges).reshape(-1, 3)  # [S, 3]
    image = torch.einsum("sk,gkl->gsl", shifts, cell)  # [G, S, 3]: S·cell of every graph
    g = batch[src]
    with torch.no_grad():  # candidates (pair p, shift s), on detached positions
        allowed = ((shifts.unsqueeze(0) == 0) | pbc.unsqueeze(1)).all(-1)  # [G, S]
        vec = (pos[dst] - pos[src]).detach().unsqueeze(1) + torch.einsum(
            "sk,pkl->psl", shifts, cell.detach()[g])  # [P, S, 3]
        dist2 = (vec * vec).sum(-1)
        mask = allowed[g] & (dist2 < cutoff ** 2) & (dist2 > 1e-12)
        p_idx, s_idx = mask.nonzero(as_tuple=True)
    # differentiable edge vectors of the kept (pair, shift) only
    c, d = src[p_idx], dst[p_idx]
    return torch.stack([c, d]), (pos[d] - pos[c]) + image[g[p_idx], s_idx]

"""Voxel pooling, the coarse graph and assignment-based upsampling (paper eqs. 5-13).

Assignment (eq. 5). For the nodes of graph G (atoms, or the coarse nodes of the previous
level) with coordinates x_i, origin o_G and voxel size s (Å):

    k_i = floor((x_i - o_G) / s),        a(i) = index of the unique key (G, k_i)

Two voxel frames:

* ``"cartesian"`` (the paper): x_i are Cartesian positions. Exact for translations that keep
  every atom inside the cell; *not* invariant to rotations (a rotated structure can fall on
  other voxel keys, paper §2.4.2).
* ``"cell"`` (beyond the paper): for periodic graphs, x_i are fractional coordinates
  f_i = x_i · cell^-1, binned with n_k = max(1, round(|a_k| / s)) bins along periodic lattice
  vector a_k and |a_k| / s per unit along a non-periodic one. Rotating positions and cell together
  leaves f_i, hence the assignment, unchanged. Non-periodic graphs (clusters) have no cell, so
  they fall back to the Cartesian frame.

In both frames positions are first wrapped into one cell image along periodic axes, so a
structure and its wrapped copy have the same assignment. The origin o_G is

* ``"min"`` / ``"mean"`` (the paper): coordinate-wise minimum or mean of the wrapped
  coordinates. A translation that carries atoms across the periodic boundary changes it.
* ``"adsorbate"`` (beyond the paper): the minimum-image centroid of the tag-2 atoms; the cell
  image is centred on it and one voxel is centred on it. The grid then moves with the
  structure, so the assignment is invariant to every translation and to wrapping (and, in the
  ``cell`` frame, to rotating positions and cell together). Graphs without tag-2 atoms use
  ``"min"``.

Pooling (eqs. 6-8) is the mean over members:  s̄_c = mean s_i,  v̄_c = mean v_i,  x̄_c = mean x_i.
Upsampling (eqs. 12-13) copies back:  s^up_i = s̄_{a(i)},  v^up_i = v̄_{a(i)}.
For a fixed assignment both are SE(3)-equivariant (means of equivariant quantities).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


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
                     num_graphs: int, cell: torch.Tensor, pbc: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Fractional centroid of each graph's adsorbate (tag 2), minimum image on periodic axes.

    Returns ``(anchor [G, 3], anchored [G] bool)``; graphs without tag-2 atoms are not anchored.
    The anchor moves with any translation (and by whole lattice vectors under wrapping), so a
    voxel grid centred on it is translation- and wrap-invariant.
    """
    with torch.no_grad():
        inv = torch.linalg.inv(cell)
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
    """Voxels per unit fractional coordinate: round(|a_k|/s) (>= 1) on periodic axes, |a_k|/s
    on non-periodic ones."""
    lengths = cell.norm(dim=-1)
    return torch.where(pbc, torch.clamp(torch.round(lengths / voxel_size), min=1.0),
                       lengths / voxel_size)


def wrap_origin(cell: torch.Tensor, pbc: torch.Tensor, voxel_size: float, frame: str,
                anchor: torch.Tensor | None = None, anchored: torch.Tensor | None = None
                ) -> torch.Tensor:
    """Fractional corner w_G of the cell image that atoms are wrapped into, ``[G, 3]``.

    Unanchored graphs: w = 0 (the cell itself). Anchored graphs: the image is centred on the
    anchor so the adsorbate is never split by the boundary; in the ``cell`` frame the voxel
    containing the anchor is centred on it and the n_k voxels tile the image exactly.
    """
    w = torch.zeros_like(cell[:, :, 0])
    if anchor is None or anchored is None or not bool(anchored.any()):
        return w
    if frame == "cell":
        n = _bins(cell, pbc, voxel_size)
        half = torch.where(pbc, (torch.floor(n / 2) + 0.5) / n, 0.5 / n.clamp(min=1e-12))
    else:
        half = torch.where(pbc, torch.full_like(w, 0.5), torch.zeros_like(w))
    return torch.where(anchored.unsqueeze(1), anchor - half, w)


def voxel_assign(pos: torch.Tensor, batch: torch.Tensor, num_graphs: int, cell: torch.Tensor,
                 pbc: torch.Tensor, voxel_size: float, frame: str = "cell",
                 origin: str = "min", w: torch.Tensor | None = None,
                 anchor: torch.Tensor | None = None, anchored: torch.Tensor | None = None
                 ) -> VoxelAssignment:
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
    """
    with torch.no_grad():
        inv = torch.linalg.inv(cell)
        frac = torch.einsum("nk,nkl->nl", pos.detach(), inv[batch])
        if w is None:
            w = torch.zeros_like(cell[:, :, 0])
        rel = frac - w[batch]  # in [0, 1) on periodic axes after wrap_positions
        periodic_graph = pbc.any(dim=1)
        if anchored is None or origin != "adsorbate":
            anchored = torch.zeros(num_graphs, dtype=torch.bool, device=pos.device)
            anchor = torch.zeros_like(w)
        bins = _bins(cell, pbc, voxel_size)
        cart = torch.einsum("nk,nkl->nl", rel, cell[batch]) / voxel_size
        if frame == "cell":
            coords = torch.where(periodic_graph[batch].unsqueeze(-1), rel * bins[batch], cart)
        elif frame == "cartesian":
            coords = cart
        else:
            raise ValueError(f"unknown voxel frame {frame!r} (use 'cartesian' or 'cell')")
        # origin o_G in voxel units: anchored graphs put the anchor at the centre of a voxel
        how = "mean" if origin == "mean" else "min"
        o = _graph_reduce(coords, batch, num_graphs, how)
        if bool(anchored.any()):
            a_rel = anchor - w
            a_cart = torch.einsum("gk,gkl->gl", a_rel, cell) / voxel_size
            a_coords = a_cart
            if frame == "cell":
                a_coords = torch.where(periodic_graph.unsqueeze(-1), a_rel * bins, a_cart)
            centred = a_coords - 0.5
            if frame == "cell":  # periodic axes: the n_k voxels already tile [0, 1)
                centred = torch.where(pbc & periodic_graph.unsqueeze(-1),
                                      torch.zeros_like(centred), centred)
            o = torch.where(anchored.unsqueeze(1), centred, o)
        keys = torch.floor(coords - o[batch]).to(torch.long)
        if frame == "cell":  # the last bin on a periodic axis closes at f = 1
            nmax = torch.where(pbc, bins, torch.full_like(bins, math.inf))[batch]
            keys = torch.where(torch.isfinite(nmax),
                               torch.clamp(keys, min=0, max=None).minimum((nmax - 1).long()),
                               keys)
        full = torch.cat([batch.unsqueeze(1), keys], dim=1)
        uniq, index = torch.unique(full, dim=0, return_inverse=True)
    return VoxelAssignment(index=index, num_coarse=int(uniq.shape[0]), batch=uniq[:, 0].clone())


def wrap_positions(pos: torch.Tensor, batch: torch.Tensor, cell: torch.Tensor,
                   pbc: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
    """Positions wrapped along periodic axes into the cell image whose fractional corner is
    ``w`` (default 0), i.e. x - floor(f - w)·cell (a constant shift, so gradients pass)."""
    inv = torch.linalg.inv(cell)
    frac = torch.einsum("nk,nkl->nl", pos.detach(), inv[batch])
    if w is not None:
        frac = frac - w[batch]
    shift = torch.where(pbc[batch], torch.floor(frac), torch.zeros_like(frac))
    return pos - torch.einsum("nk,nkl->nl", shift, cell[batch])


def mean_pool(x: torch.Tensor, index: torch.Tensor, num_coarse: int) -> torch.Tensor:
    """Eqs. 6-8: x̄_c = mean_{i: a(i)=c} x_i for features of any trailing shape."""
    out = torch.zeros((num_coarse,) + x.shape[1:], dtype=x.dtype, device=x.device)
    out = out.index_add(0, index, x)
    count = torch.zeros(num_coarse, dtype=x.dtype, device=x.device).index_add(
        0, index, torch.ones_like(index, dtype=x.dtype))
    return out / count.view(-1, *([1] * (x.dim() - 1)))


def upsample(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Eqs. 12-13: x^up_i = x̄_{a(i)}."""
    return x[index]


def radius_graph_pbc(pos: torch.Tensor, batch: torch.Tensor, cell: torch.Tensor,
                     pbc: torch.Tensor, cutoff: float, max_images: int = 3
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Radius graph of the (few) coarse nodes, all on the device, with periodic images.

    Returns ``edge_index`` ``[2, E]`` (centre c, neighbour d) and the edge vectors
    ``r_cd = x_d - x_c + S·cell`` ``[E, 3]`` (differentiable). Dense over node pairs of the
    same graph, which is cheap for coarse graphs (tens of nodes per graph).
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
        vol = torch.linalg.det(cell).abs()
        heights = torch.stack([vol / torch.linalg.cross(cell[:, (k + 1) % 3],
                                                          cell[:, (k + 2) % 3]).norm(dim=-1)
                               for k in range(3)], dim=1)
        reps = torch.where(pbc, torch.ceil(cutoff / heights), torch.zeros_like(heights))
        reps = reps.clamp(max=max_images).long().amax(dim=0).tolist()
    ranges = [torch.arange(-r, r + 1, device=device, dtype=pos.dtype) for r in reps]
    shifts = torch.cartesian_prod(*ranges).reshape(-1, 3)  # [S, 3]
    g = batch[src]
    vec = (pos[dst] - pos[src]).unsqueeze(1) + torch.einsum("sk,pkl->psl", shifts, cell[g])
    allowed = (shifts.unsqueeze(0) == 0) | pbc[g].unsqueeze(1)  # [P, S, 3]
    dist2 = (vec.detach() ** 2).sum(-1)
    mask = allowed.all(-1) & (dist2 < cutoff ** 2) & (dist2 > 1e-12)
    p_idx, s_idx = mask.nonzero(as_tuple=True)
    edge_index = torch.stack([src[p_idx], dst[p_idx]])
    return edge_index, vec[p_idx, s_idx]

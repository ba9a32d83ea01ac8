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

In both frames positions are first wrapped into the cell along periodic axes, so a structure
and its wrapped copy have the same assignment. o_G is the coordinate-wise minimum (``"min"``)
or mean (``"mean"``) of the wrapped coordinates.

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


def fractional_coordinates(pos: torch.Tensor, batch: torch.Tensor, cell: torch.Tensor,
                           pbc: torch.Tensor) -> torch.Tensor:
    """f_i = x_i · cell^-1, wrapped into [0, 1) along periodic axes. ``cell`` must be usable."""
    inv = torch.linalg.inv(cell)
    frac = torch.einsum("nk,nkl->nl", pos, inv[batch])
    wrap = pbc[batch]
    return torch.where(wrap, frac - torch.floor(frac), frac)


def _graph_reduce(x: torch.Tensor, batch: torch.Tensor, num_graphs: int, how: str) -> torch.Tensor:
    out_shape = (num_graphs,) + x.shape[1:]
    idx = batch.view(-1, *([1] * (x.dim() - 1))).expand_as(x)
    if how == "min":
        out = torch.full(out_shape, math.inf, dtype=x.dtype, device=x.device)
        return out.scatter_reduce(0, idx, x, reduce="amin", include_self=True)
    out = torch.zeros(out_shape, dtype=x.dtype, device=x.device)
    return out.scatter_reduce(0, idx, x, reduce="mean", include_self=False)


def voxel_assign(pos: torch.Tensor, batch: torch.Tensor, num_graphs: int, cell: torch.Tensor,
                 pbc: torch.Tensor, voxel_size: float, frame: str = "cell",
                 origin: str = "min") -> VoxelAssignment:
    """Eq. 5: group nodes by voxel key. ``cell`` must come from :func:`usable_cell`.

    Args:
        pos: ``[n, 3]`` Cartesian node positions (Å).
        batch: ``[n]`` graph index of each node.
        cell, pbc: ``[G, 3, 3]`` and ``[G, 3]``.
        voxel_size: edge length s of a voxel (Å).
        frame: ``"cartesian"`` or ``"cell"`` (see the module docstring).
        origin: ``"min"`` or ``"mean"``.
    """
    with torch.no_grad():
        pos = pos.detach()
        frac = fractional_coordinates(pos, batch, cell, pbc)
        periodic_graph = pbc.any(dim=1)
        lengths = cell.norm(dim=-1)  # [G, 3]
        if frame == "cell":
            bins = torch.where(pbc, torch.clamp(torch.round(lengths / voxel_size), min=1.0),
                               lengths / voxel_size)  # bins per unit fractional coordinate
            coords = frac * bins[batch]
            cart = torch.einsum("nk,nkl->nl", frac, cell[batch]) / voxel_size
            use_cell = periodic_graph[batch].unsqueeze(-1)
            coords = torch.where(use_cell, coords, cart)
        elif frame == "cartesian":
            coords = torch.einsum("nk,nkl->nl", frac, cell[batch]) / voxel_size
        else:
            raise ValueError(f"unknown voxel frame {frame!r} (use 'cartesian' or 'cell')")
        o = _graph_reduce(coords, batch, num_graphs, "min" if origin == "min" else "mean")
        keys = torch.floor(coords - o[batch]).to(torch.long)
        if frame == "cell":  # the last bin on a periodic axis closes at f = 1
            nmax = torch.where(pbc, bins, torch.full_like(bins, math.inf))[batch]
            keys = torch.where(torch.isfinite(nmax), torch.minimum(keys, (nmax - 1).long()), keys)
        full = torch.cat([batch.unsqueeze(1), keys], dim=1)
        uniq, index = torch.unique(full, dim=0, return_inverse=True)
    return VoxelAssignment(index=index, num_coarse=int(uniq.shape[0]), batch=uniq[:, 0].clone())


def wrap_positions(pos: torch.Tensor, batch: torch.Tensor, cell: torch.Tensor,
                   pbc: torch.Tensor) -> torch.Tensor:
    """Positions wrapped into the cell along periodic axes (differentiable: x - S·cell)."""
    inv = torch.linalg.inv(cell)
    frac = torch.einsum("nk,nkl->nl", pos.detach(), inv[batch])
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

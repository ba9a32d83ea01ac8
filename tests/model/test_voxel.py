"""Unit tests of the voxel module: assignment, pooling, wrapping, cells, coarse radius graph and
the adsorbate anchor (float64 throughout; positions in Å)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from metalegnet.model.voxel import (
    GRID_OFFSET,
    adsorbate_anchor,
    mean_pool,
    radius_graph_pbc,
    upsample,
    usable_cell,
    voxel_assign,
    wrap_origin,
    wrap_positions,
)

D = torch.float64


def t(x, dtype=D):
    return torch.as_tensor(np.asarray(x), dtype=dtype)


def assign(pos, cell, pbc, s, frame="cell", origin="min", tags=None, batch=None):
    """The model's pipeline for one level: anchor, wrap origin, wrap, assign."""
    pos, cell = t(pos), t(cell)
    if cell.dim() == 2:
        cell = cell.unsqueeze(0)
    pbc = torch.as_tensor(np.asarray(pbc, dtype=bool)).reshape(-1, 3)
    batch = torch.zeros(len(pos), dtype=torch.long) if batch is None else torch.as_tensor(batch)
    g = cell.shape[0]
    cell = usable_cell(cell, pbc)
    anchor = anchored = None
    if origin == "adsorbate":
        tags = torch.as_tensor(tags if tags is not None else np.zeros(len(pos), int))
        anchor, anchored = adsorbate_anchor(pos, batch, tags, g, cell, pbc)
    w = wrap_origin(cell, pbc, s, frame, anchor, anchored)
    x = wrap_positions(pos, batch, cell, pbc, w)
    return voxel_assign(x, batch, g, cell, pbc, s, frame, origin, w=w, anchor=anchor,
                        anchored=anchored)


def groups(index) -> set[frozenset[int]]:
    out: dict[int, set[int]] = {}
    for i, c in enumerate(index.tolist()):
        out.setdefault(c, set()).add(i)
    return {frozenset(v) for v in out.values()}


# ----------------------------------------------------------------------------- voxel_assign
def test_cartesian_keys_and_counts_of_a_cluster():
    pos = [[0.1, 0.1, 0.1], [0.9, 0.2, 0.3], [1.2, 0.1, 0.1], [0.1, 2.05, 0.1], [3.0, 3.0, 3.0]]
    a = assign(pos, np.zeros((3, 3)), [False] * 3, 1.0, frame="cartesian")
    # keys floor(x - min): (0,0,0) x2, (1,0,0), (0,1,0), (2,2,2); index = rank of the key
    assert a.num_coarse == 4
    assert a.index.tolist() == [0, 0, 2, 1, 3]
    counts = torch.bincount(a.index).tolist()
    assert counts == [2, 1, 1, 1]
    assert a.batch.tolist() == [0, 0, 0, 0]


def test_one_voxel_per_graph_in_a_batch():
    """Two graphs with identical coordinates never share a voxel; nodes of one voxel each."""
    pos = [[0.1, 0.2, 0.3], [0.4, 0.3, 0.2]] * 2 + [[5.0, 5.0, 5.0]]
    batch = [0, 0, 1, 1, 2]
    a = assign(pos, np.zeros((3, 3, 3)), [[False] * 3] * 3, 2.0, frame="cartesian", batch=batch)
    assert a.num_coarse == 3
    assert a.index.tolist() == [0, 0, 1, 1, 2]
    assert a.batch.tolist() == [0, 1, 2]


def test_cell_frame_bins_and_ties_on_lattice_points():
    """A cubic 10 Å cell with 5 Å voxels has 2 bins per axis; atoms exactly on the nominal
    bin boundaries (lattice points half a voxel from the anchor) keep their voxel under
    rounding-level noise and under a rotation of positions and cell."""
    cell = np.eye(3) * 10.0
    grid = np.array([[i, j, k] for i in range(4) for j in range(4) for k in range(4)]) * 2.5
    ads = np.array([[0.0, 0.0, 9.0]])  # on top of a lattice point
    pos = np.vstack([grid, ads])
    tags = np.r_[np.ones(len(grid), int), 2]
    a = assign(pos, cell, [True] * 3, 5.0, origin="adsorbate", tags=tags)
    ref = groups(a.index)
    assert a.num_coarse == 2 * 2 * 2 and all(len(g) == 8 for g in ref if len(pos) - 1 not in g)
    # the anchor's voxel spans [-2.5, 2.5) along x and y and [6.5, 11.5) along z, periodically
    # (half-open: an atom on a face belongs to the voxel above it)
    same = [i for i in range(len(grid)) if a.index[i] == a.index[-1]]
    assert {tuple(pos[i]) for i in same} == {(x, y, z) for x in (0.0, 7.5) for y in (0.0, 7.5)
                                             for z in (0.0, 7.5)}
    rng = np.random.default_rng(0)
    for trial in range(20):
        noisy = pos + rng.normal(scale=1e-9, size=pos.shape)
        assert groups(assign(noisy, cell, [True] * 3, 5.0, origin="adsorbate",
                             tags=tags).index) == ref, trial
    for seed in range(5):
        r = Rotation.random(random_state=seed).as_matrix()
        rot = assign(pos @ r.T, cell @ r.T, [True] * 3, 5.0, origin="adsorbate", tags=tags)
        assert groups(rot.index) == ref, seed
    # the min origin: atoms at f = 0, 1/4, 1/2, 3/4 on the min grid's nominal boundaries
    ref_min = groups(assign(pos, cell, [True] * 3, 5.0).index)
    for trial in range(10):
        noisy = pos + rng.normal(scale=1e-9, size=pos.shape)
        assert groups(assign(noisy, cell, [True] * 3, 5.0).index) == ref_min, trial


def test_translation_and_wrap_keep_the_anchored_assignment():
    rng = np.random.default_rng(1)
    cell = np.array([[8.1, 0.0, 0.0], [4.05, 7.01, 0.0], [0.3, 0.2, 25.0]])
    frac = np.array([[i / 4, j / 4, k * 0.08] for i in range(4) for j in range(4)
                     for k in range(3)])
    ads = np.array([[0.0, 0.0, 0.28], [0.0, 0.0, 0.33]])  # above a lattice site: ties
    pos = np.vstack([frac, ads]) @ cell
    tags = np.r_[np.ones(len(frac), int), 2, 2]
    for frame in ("cell", "cartesian"):
        ref = groups(assign(pos, cell, [True] * 3, 3.5, frame, "adsorbate", tags).index)
        for trial in range(10):
            moved = pos + rng.normal(scale=5.0, size=3)
            if trial % 2:
                moved = moved + rng.integers(-2, 3, size=(len(pos), 3)) @ cell
            got = assign(moved, cell, [True] * 3, 3.5, frame, "adsorbate", tags)
            assert groups(got.index) == ref, (frame, trial)


def test_voxel_count_tie_of_the_cell_length():
    """|a|/s = 2.5 exactly: the voxel count must not depend on the rounding of |a|."""
    cell = np.diag([12.5, 12.5, 20.0])
    pos = np.array([[x, y, 5.0] for x in np.arange(0.3, 12.5, 1.25)
                    for y in np.arange(0.3, 12.5, 1.25)])
    ref = assign(pos, cell, [True, True, False], 5.0)
    assert ref.num_coarse == 9  # round half up: 3 x 3
    for seed in range(5):
        r = Rotation.random(random_state=seed).as_matrix()
        got = assign(pos @ r.T, cell @ r.T, [True, True, False], 5.0)
        assert groups(got.index) == groups(ref.index), seed


def test_mean_origin_tiles_the_periodic_axes():
    """With the mean origin the cell-frame bins still tile the image (no bin swallows half
    the cell), and so group as many atoms as the min origin's."""
    cell = np.eye(3) * 20.0
    pos = np.array([[x + 0.3, 1.0, 1.0] for x in np.arange(0.0, 20.0, 1.0)])
    a_mean = assign(pos, cell, [True] * 3, 5.0, origin="mean")
    a_min = assign(pos, cell, [True] * 3, 5.0, origin="min")
    assert a_min.num_coarse == 4
    assert max(torch.bincount(a_mean.index).tolist()) <= 5
    assert a_mean.num_coarse in (4, 5)


@pytest.mark.parametrize("span", [3, 1000, 2 ** 40])
def test_packed_keys_match_unique_rows(span):
    """The int64-packed voxel keys group and order nodes exactly as unique(dim=0) of the
    (graph, key) rows; 2**40 overflows the packing and takes the unique(dim=0) fallback."""
    from metalegnet.model.voxel import _group_keys

    gen = torch.Generator().manual_seed(span)
    for _ in range(20):
        n = int(torch.randint(1, 60, (1,), generator=gen))
        batch = torch.sort(torch.randint(0, 3, (n,), generator=gen)).values
        keys = torch.randint(-span, span, (n, 3), generator=gen)
        keys[::2] = keys[0].clone()  # repeated keys
        index, num_coarse, coarse_batch = _group_keys(batch, keys, 3)
        rows, want = torch.unique(torch.cat([batch[:, None], keys], 1), dim=0,
                                  return_inverse=True)
        assert num_coarse == rows.shape[0]
        assert torch.equal(index, want) and torch.equal(coarse_batch, rows[:, 0])


def test_unknown_frame():
    with pytest.raises(ValueError, match="voxel frame"):
        assign([[0.0, 0.0, 0.0]], np.zeros((3, 3)), [False] * 3, 1.0, frame="polar")


# ----------------------------------------------------------------------- pooling/upsampling
def test_mean_pool_and_upsample_round_trip():
    index = torch.tensor([0, 2, 0, 1, 2, 2])
    x = torch.arange(6, dtype=D).unsqueeze(1) * torch.tensor([[1.0, 10.0]], dtype=D)
    pooled = mean_pool(x, index, 3)
    assert torch.allclose(pooled[:, 0], torch.tensor([1.0, 3.0, 10.0 / 3.0], dtype=D))
    assert torch.allclose(pooled[:, 1], 10 * pooled[:, 0])
    # upsample then pool is the identity; pool then upsample is the voxel mean
    y = torch.randn(3, 3, 4, dtype=D)  # vector features [n, 3, F]
    assert torch.allclose(mean_pool(upsample(y, index), index, 3), y, rtol=0, atol=1e-15)
    up = upsample(pooled, index)
    assert up.shape == x.shape and torch.equal(up[1], pooled[2])
    # pooling commutes with rotations of vector features
    r = t(Rotation.random(random_state=0).as_matrix())
    v = torch.randn(6, 3, 4, dtype=D)
    rv = torch.einsum("ij,njf->nif", r, v)
    assert torch.allclose(mean_pool(rv, index, 3),
                          torch.einsum("ij,njf->nif", r, mean_pool(v, index, 3)))


# ------------------------------------------------------------------------------ wrapping
def test_wrap_positions():
    rng = np.random.default_rng(2)
    cell = t([[6.0, 0.0, 0.0], [2.0, 5.5, 0.0], [0.5, 0.7, 9.0]]).unsqueeze(0)
    pbc = torch.tensor([[True, True, False]])
    pos = t(rng.uniform(-20, 20, size=(30, 3))).requires_grad_(True)
    batch = torch.zeros(30, dtype=torch.long)
    for w in (None, t([[0.3, -0.45, 0.0]])):
        x = wrap_positions(pos, batch, cell, pbc, w)
        f = (x @ torch.linalg.inv(cell[0])).detach()
        f_rel = f - (0 if w is None else w)
        assert torch.all((f_rel[:, :2] >= -1e-12) & (f_rel[:, :2] < 1 + 1e-12))
        f0 = (pos @ torch.linalg.inv(cell[0])).detach()
        shift = f0 - f
        assert torch.allclose(shift, shift.round(), atol=1e-9)  # whole lattice vectors
        assert torch.allclose(f[:, 2], f0[:, 2])  # non-periodic axis untouched
        (grad,) = torch.autograd.grad(x.sum(), pos)
        assert torch.equal(grad, torch.ones_like(grad))


def test_wrap_origin_centres_the_anchor():
    cell = usable_cell(t(np.diag([10.0, 15.0, 30.0])).unsqueeze(0), torch.tensor([[True] * 3]))
    pbc = torch.tensor([[True, True, False]])
    anchor = t([[0.2, 0.7, 0.5]])
    anchored = torch.tensor([True])
    w = wrap_origin(cell, pbc, 5.0, "cell", anchor, anchored)
    # n = (2, 3, 6): the anchor is in the middle of voxel floor(n/2) (up to ε voxels)
    n = torch.tensor([2.0, 3.0, 6.0], dtype=D)
    centre = torch.tensor([1.0, 1.0, 0.0], dtype=D)
    assert torch.allclose((anchor - w) * n, centre + 0.5 + GRID_OFFSET)
    w_cart = wrap_origin(cell, pbc, 5.0, "cartesian", anchor, anchored)
    assert torch.allclose(anchor - w_cart, t([[0.5, 0.5, 0.0]]) + t([GRID_OFFSET / 2,
                                                                    GRID_OFFSET / 3, 0.0]))
    w0 = wrap_origin(cell, pbc, 5.0, "cell")
    assert torch.all(w0 <= 0) and torch.all(w0 > -1e-3)


# ---------------------------------------------------------------------------- usable_cell
def test_usable_cell():
    zero = torch.zeros(1, 3, 3, dtype=D)
    cluster = usable_cell(zero, torch.tensor([[False] * 3]))
    assert torch.allclose(cluster[0], torch.eye(3, dtype=D) * 1e3)
    slab = t([[[3.0, 0.0, 0.0], [1.5, 2.6, 0.0], [0.0, 0.0, 0.0]]])
    fixed = usable_cell(slab, torch.tensor([[True, True, False]]))
    assert torch.equal(fixed[0, :2], slab[0, :2])
    assert torch.allclose(fixed[0, 2], t([0.0, 0.0, 1e3]))
    boxed = t([[[3.0, 0.0, 0.0], [1.5, 2.6, 0.0], [0.0, 0.4, 20.0]]])
    for pbc in ([True, True, False], [True, True, True]):
        assert torch.equal(usable_cell(boxed, torch.tensor([pbc])), boxed)
    # batched, and the input is not modified
    both = torch.cat([slab, zero])
    out = usable_cell(both, torch.tensor([[True, True, False], [False] * 3]))
    assert torch.allclose(out[1], torch.eye(3, dtype=D) * 1e3)
    assert torch.all(both[1] == 0)
    assert torch.all(torch.linalg.det(out).abs() > 1.0)


# ------------------------------------------------------------------------ radius graph
def _brute_force(pos, cell, pbc, cutoff):
    """Every (i, j, distance) with an image of j within cutoff of i (ASE neighbour list)."""
    from ase import Atoms
    from ase.neighborlist import neighbor_list

    atoms = Atoms("H" * len(pos), positions=pos, cell=cell, pbc=pbc)
    i, j, d = neighbor_list("ijd", atoms, cutoff, self_interaction=False)
    return sorted(zip(i.tolist(), j.tolist(), np.round(d, 8).tolist()))


@pytest.mark.parametrize("pbc", [[True, True, True], [True, True, False], [True, False, False]])
def test_radius_graph_matches_ase(pbc):
    """A small triclinic cell and a cutoff of 2.5 heights: several images, self images."""
    rng = np.random.default_rng(3)
    cell = np.array([[4.0, 0.0, 0.0], [1.7, 3.6, 0.0], [0.8, -0.6, 5.0]])
    frac = rng.uniform(0, 1, size=(5, 3))
    pos = frac @ cell
    cutoff = 9.0
    ei, vec = radius_graph_pbc(t(pos), torch.zeros(5, dtype=torch.long), t(cell).unsqueeze(0),
                               torch.tensor([pbc]), cutoff)
    d = vec.norm(dim=-1)
    got = sorted(zip(ei[0].tolist(), ei[1].tolist(), np.round(d.numpy(), 8).tolist()))
    want = _brute_force(pos, cell, pbc, cutoff)
    assert len(want) > 20 and got == want
    # edge vectors are x_j - x_i + S cell with an integer S
    s = (vec - t(pos)[ei[1]] + t(pos)[ei[0]]) @ torch.linalg.inv(t(cell))
    assert torch.allclose(s, s.round(), atol=1e-9)


def test_radius_graph_batch_and_image_limit():
    cell = t(np.eye(3) * 3.0).unsqueeze(0).repeat(2, 1, 1)
    pos = t([[0.5, 0.5, 0.5], [1.5, 0.5, 0.5], [0.5, 0.5, 0.5]])
    batch = torch.tensor([0, 0, 1])
    pbc = torch.tensor([[True, True, True], [False, False, False]])
    ei, vec = radius_graph_pbc(pos, batch, cell, pbc, 3.5)
    assert torch.all(batch[ei[0]] == batch[ei[1]])  # no edge between graphs
    assert not bool((batch[ei[0]] == 1).any())  # the lone cluster node has no neighbour
    # graph 0: node 0 sees node 1 at 1 and 2 Å and its own images at 3 Å (x, y, z)
    d0 = sorted(vec[(ei[0] == 0)].norm(dim=-1).round(decimals=6).tolist())
    assert d0.count(3.0) == 6 and 1.0 in d0 and 2.0 in d0
    with pytest.raises(ValueError, match="max_images"):
        radius_graph_pbc(pos, batch, cell, pbc, 10.0, max_images=3)
    # gradients reach the positions
    p = pos.clone().requires_grad_(True)
    _, v = radius_graph_pbc(p, batch, cell, pbc, 3.5)
    (g,) = torch.autograd.grad(v.norm(dim=-1).sum(), p)
    assert torch.isfinite(g).all() and g.abs().sum() > 0


# ------------------------------------------------------------------------- anchor
def test_adsorbate_anchor_across_the_boundary():
    cell = usable_cell(t(np.diag([10.0, 10.0, 30.0])).unsqueeze(0), torch.tensor([[True] * 3]))
    pbc = torch.tensor([[True, True, True]])
    # adsorbate split by the x boundary: f_x = 0.98 and 0.04 -> centroid 0.01 (minimum image)
    pos = t([[9.8, 5.0, 12.0], [0.4, 5.0, 13.0], [5.0, 5.0, 10.0]])
    tags = torch.tensor([2, 2, 1])
    batch = torch.zeros(3, dtype=torch.long)
    anchor, anchored = adsorbate_anchor(pos, batch, tags, 1, cell, pbc)
    assert bool(anchored[0])
    f = anchor[0] - torch.floor(anchor[0])
    assert torch.allclose(f, t([0.01, 0.5, 12.5 / 30]), atol=1e-12)
    # any translation moves it with the atoms (up to whole lattice vectors)
    shift = t([3.3, -7.1, 0.4])
    moved, _ = adsorbate_anchor(pos + shift, batch, tags, 1, cell, pbc)
    d = moved[0] - anchor[0] - shift @ torch.linalg.inv(cell[0])
    assert torch.allclose(d, d.round(), atol=1e-12)
    # wrapping one adsorbate atom by a lattice vector changes nothing (mod 1)
    wrapped = pos.clone()
    wrapped[1] += cell[0, 0] + cell[0, 1]
    again, _ = adsorbate_anchor(wrapped, batch, tags, 1, cell, pbc)
    d = again[0] - anchor[0]
    assert torch.allclose(d, d.round(), atol=1e-12)


def test_adsorbate_anchor_batch_without_adsorbate():
    cell = usable_cell(torch.zeros(2, 3, 3, dtype=D), torch.zeros(2, 3, dtype=torch.bool))
    pbc = torch.zeros(2, 3, dtype=torch.bool)
    pos = t([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [5.0, 5.0, 5.0], [7.0, 5.0, 5.0]])
    tags = torch.tensor([1, 1, 2, 2])
    batch = torch.tensor([0, 0, 1, 1])
    anchor, anchored = adsorbate_anchor(pos, batch, tags, 2, cell, pbc)
    assert anchored.tolist() == [False, True]
    assert torch.allclose(anchor[1] * 1e3, t([6.0, 5.0, 5.0]))  # cluster: a 1000 Å box
    assert torch.equal(anchor[0], torch.zeros(3, dtype=D))

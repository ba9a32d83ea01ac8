"""Symmetry checks of every LegNet variant on real slabs: the first frame of each of the 31
oc20-mini trajectories (full PBC, non-orthogonal cells, atoms on ideal lattice sites).

Hand-built test slabs are jittered, so no atom sits on a voxel boundary; real first frames put
atoms *exactly* on the boundaries of the adsorbate-centred grid, where the voxel assignment
used to follow the rounding noise of a rotated or translated copy (in float64 energies changed
by up to 1e-1 and forces by 3e-1 relative, more in float32; see
``benchmarks/results/invariance.md``).

All 31 structures go through the model as one batch per check (each with its own random
rotation / translation), and errors are per structure: max|ΔX| / max(max|X|, 1). Every
parameter is perturbed at random, so that the multiscale modules (zero-initialised fusion and
post-fusion blocks start as the identity) contribute; ``test_checks_can_see_the_voxels`` makes
sure they do, so the symmetry checks are not vacuous.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from metalegnet import LegNet, LegNetConfig
from metalegnet.data.graph import atoms_to_graph, collate

CUTOFF = 5.0
#: exact properties: float64 round-off only (the broken assignment gave 1e-5 to 6e-3)
TOL64 = 1e-9
#: float32 (energy, forces): round-off of these random-weight models reaches 7e-6 / 1e-4 (the
#: vanilla model too); voxel flips from rounding at the boundaries gave 1e-2 / 2e-3 and more
TOL32 = (1e-4, 1e-3)
VARIANTS = ("vanilla", "coarsen", "full")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def first_frames():
    from metalegnet.data import load

    frames = load("oc20-mini", index="0")
    assert len(frames) == 31 and all(a.info["fid"] == 0 for a in frames)
    assert len({a.info["sid"] for a in frames}) == 31
    for a in frames:
        a.calc = None
    return frames


def build(variant: str, frame: str = "cell", seed: int = 0, dtype=torch.float64) -> LegNet:
    torch.manual_seed(seed)
    model = LegNet(LegNetConfig(variant=variant, voxel_frame=frame, voxel_origin="adsorbate",
                                cutoff=CUTOFF, num_features=8, num_radial=6, num_blocks=1))
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():  # random weights everywhere, zero-initialised layers included
        for p in model.parameters():
            scale = p.shape[-1] ** -0.5 if p.dim() > 1 else 0.1  # about a fresh init's
            p.add_(scale * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return model.to(dtype).eval()


def predict(model, atoms_list, dtype):
    """Per-structure energies [G] and forces (list of [N_g, 3]) of one batched pass."""
    graph = collate([atoms_to_graph(a, CUTOFF, dtype=dtype) for a in atoms_list])
    with torch.enable_grad():
        out = model(graph)
    e = out.energy.detach().double().numpy()
    f = out.forces.detach().double().numpy()
    return e, np.split(f, np.cumsum([len(a) for a in atoms_list])[:-1])


def worst(e1, f1, e2, f2, frames):
    """(worst energy error, worst force error, sid of the worst structure)."""
    err_e = [abs(a - b) / max(abs(b), 1.0) for a, b in zip(e2, e1)]
    err_f = [np.abs(a - b).max() / max(np.abs(b).max(), 1.0) for a, b in zip(f2, f1)]
    k = int(np.argmax(np.maximum(err_e, err_f)))
    return max(err_e), max(err_f), frames[k].info["sid"]


def rotate_all(frames, seed=0):
    out, rots = [], []
    for k, a in enumerate(frames):
        r = Rotation.random(random_state=seed * 1000 + k).as_matrix()
        b = a.copy()
        b.positions = a.positions @ r.T
        b.set_cell(a.cell.array @ r.T, scale_atoms=False)
        out.append(b)
        rots.append(r)
    return out, rots


def translate_all(frames, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for a in frames:
        b = a.copy()
        b.positions += rng.normal(scale=4.0, size=3)  # not wrapped back
        out.append(b)
    return out


def wrap_all(frames, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for a in frames:
        b = a.copy()
        b.positions += rng.integers(-2, 3, size=(len(a), 3)) @ a.cell.array
        out.append(b)
    return out


def check(name, errors, tol):
    e, f, sid = errors
    tol_e, tol_f = tol if isinstance(tol, tuple) else (tol, tol)
    assert e < tol_e and f < tol_f, f"{name}: energy {e:.1e}, forces {f:.1e} (worst: {sid})"


@pytest.fixture(scope="module")
def reference(first_frames):
    """Models and their float64 predictions on the unmoved frames, per (variant, frame)."""
    cache = {}

    def get(variant, frame="cell", dtype=torch.float64):
        key = (variant, frame, dtype)
        if key not in cache:
            model = build(variant, frame, dtype=dtype)
            cache[key] = (model, *predict(model, first_frames, dtype))
        return cache[key]

    return get


@pytest.mark.parametrize("variant", VARIANTS)
def test_rotation_cell_frame(first_frames, reference, variant):
    model, e0, f0 = reference(variant)
    rot, rs = rotate_all(first_frames)
    e, f = predict(model, rot, torch.float64)
    check(f"{variant} rotation", worst(e0, [x @ r.T for x, r in zip(f0, rs)], e, f,
                                       first_frames), TOL64)


@pytest.mark.parametrize("variant", VARIANTS)
def test_rotation_cell_frame_float32(first_frames, reference, variant):
    """In float32 a coordinate on a nominal boundary is off by ~1e-7 after rotation."""
    model, e0, f0 = reference(variant, dtype=torch.float32)
    rot, rs = rotate_all(first_frames, seed=1)
    e, f = predict(model, rot, torch.float32)
    check(f"{variant} rotation (float32)",
          worst(e0, [x @ r.T for x, r in zip(f0, rs)], e, f, first_frames), TOL32)


@pytest.mark.parametrize("frame", ["cell", "cartesian"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_translation(first_frames, reference, variant, frame):
    if variant == "vanilla" and frame == "cartesian":
        pytest.skip("no voxels")
    model, e0, f0 = reference(variant, frame)
    e, f = predict(model, translate_all(first_frames), torch.float64)
    check(f"{variant} {frame} translation", worst(e0, f0, e, f, first_frames), TOL64)


@pytest.mark.parametrize("frame", ["cell", "cartesian"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_wrap(first_frames, reference, variant, frame):
    if variant == "vanilla" and frame == "cartesian":
        pytest.skip("no voxels")
    model, e0, f0 = reference(variant, frame)
    e, f = predict(model, wrap_all(first_frames), torch.float64)
    check(f"{variant} {frame} wrap", worst(e0, f0, e, f, first_frames), TOL64)


@pytest.mark.parametrize("variant", VARIANTS)
def test_permutation(first_frames, reference, variant):
    model, e0, f0 = reference(variant)
    rng = np.random.default_rng(0)
    perms = [rng.permutation(len(a)) for a in first_frames]
    e, f = predict(model, [a[p] for a, p in zip(first_frames, perms)], torch.float64)
    check(f"{variant} permutation",
          worst(e0, [x[p] for x, p in zip(f0, perms)], e, f, first_frames), TOL64)


@pytest.mark.parametrize("variant", ["coarsen", "full"])
def test_checks_can_see_the_voxels(first_frames, reference, variant):
    """Re-tagging the adsorbate moves the voxel grid: the voxel variants must notice (so the
    symmetry checks above test the voxel assignment), the vanilla model must not."""
    model, e0, _ = reference(variant)
    retagged = []
    for a in first_frames:
        b = a.copy()
        tags = b.get_tags()
        tags[tags == 2] = 1
        tags[np.argmax(b.positions[:, 2] * (tags == 1))] = 2  # the topmost surface atom
        b.set_tags(tags)
        retagged.append(b)
    e, _ = predict(model, retagged, torch.float64)
    assert np.median(np.abs(e - e0) / np.maximum(np.abs(e0), 1.0)) > 1e-4
    vanilla, ev0, _ = reference("vanilla")
    ev, _ = predict(vanilla, retagged, torch.float64)
    assert np.abs(ev - ev0).max() / max(np.abs(ev0).max(), 1.0) < TOL64

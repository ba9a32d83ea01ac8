"""Baseline adapters: the reusable model suite, finite-difference forces, checkpoints, and the
adapters' own wiring (edges, triplets) against the libraries' forward passes.

Cases whose library is not installed skip (torch-geometric: ``metalegnet[baselines]``;
schnetpack: see ``metalegnet.model.baselines.painn``).
"""

from __future__ import annotations

import copy
import subprocess
import sys

import numpy as np
import pytest
import torch

from metalegnet.checkpoint import load_checkpoint, save_checkpoint
from metalegnet.config import from_dict, to_dict
from metalegnet.data.graph import atoms_to_graph, collate
from metalegnet.errors import ConfigError, MetaLegNetError
from metalegnet.model.baselines import (
    BASELINES,
    UNAVAILABLE,
    BaselineUnavailableError,
    PeriodicEdges,
    baseline_config,
    build_baseline,
    periodic_triplets,
)
from metalegnet.testing.model_tests import BaseModelTests, predict, structures
from metalegnet.testing.structures import slab_with_adsorbate

CUTOFF = 4.5
#: tiny configs: (case id, baseline name, overrides)
CASES = [
    ("schnet", "schnet", dict(hidden_channels=16, num_filters=16, num_interactions=2,
                              num_gaussians=12)),
    ("dimenet++", "dimenet++", dict(hidden_channels=16, out_emb_channels=16, int_emb_size=8,
                                    basis_emb_size=4, num_blocks=2, num_spherical=3,
                                    num_radial=3, output_initializer="glorot_orthogonal")),
    ("cgcnn-mean", "cgcnn", dict(atom_features=16, num_conv=2, num_gaussians=12,
                                 hidden_features=16, pooling="mean")),
    ("cgcnn-sum", "cgcnn", dict(atom_features=16, num_conv=2, num_gaussians=12,
                                hidden_features=16, num_fc=2, pooling="sum")),
    ("painn", "painn", dict(n_atom_basis=16, n_interactions=2, n_rbf=8)),
]
IDS = [c[0] for c in CASES]
_BUILT: dict[str, torch.nn.Module] = {}
#: float32 round-off of DimeNet++'s spherical basis (sympy polynomials) is ~1e-5 relative, above
#: the suite's exact float32 tolerance; its exact checks run in float64 (and see test_float32)
FLOAT64_ONLY = {"dimenet++"}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models on a shared 2-core machine: one thread is ~100x faster than two."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def built(case_id: str) -> torch.nn.Module:
    """A fresh copy of the tiny model of ``case_id`` (built once; skip if its library is
    missing), in eval mode with a non-trivial normalisation."""
    if case_id not in _BUILT:
        _, name, overrides = next(c for c in CASES if c[0] == case_id)
        torch.manual_seed(0)
        try:
            model = build_baseline(name, dict(overrides, cutoff=CUTOFF))
        except BaselineUnavailableError as exc:
            pytest.skip(str(exc))
        model.normalization.set(scale=1.7, shift_atom=-0.3, shift_graph=0.2,
                                       element_references=np.linspace(-1, 1, 119))
        _BUILT[case_id] = model.eval()
    return copy.deepcopy(_BUILT[case_id])


def graph_of(atoms_list, dtype=torch.float64, cutoff=CUTOFF):
    return collate([atoms_to_graph(a, cutoff, dtype=dtype) for a in atoms_list])


class TestBaselines(BaseModelTests):
    """Permutation, translation, periodic wrap, rotation, batch = single, isolated atoms."""

    @pytest.fixture(params=IDS)
    def case_id(self, request):
        return request.param

    @pytest.fixture
    def model(self, case_id):
        return built(case_id)

    @pytest.fixture
    def typed_model(self, model, dtype, case_id):
        if case_id in FLOAT64_ONLY and dtype == torch.float32:
            pytest.skip("exact checks in float64 only (float32 round-off ~1e-5)")
        return model.to(dtype)

    @pytest.fixture
    def exact_rotation(self):
        return "all"

    @pytest.fixture
    def exact_periodic_translation(self):
        return True

    @pytest.fixture
    def separable(self, case_id):
        return ("mean pooling: every atom's energy depends on the number of atoms"
                if case_id == "cgcnn-mean" else True)

    @pytest.fixture
    def smooth_cutoff(self, case_id):
        return ("CGCNN's Gaussian edge features have no cutoff envelope: the energy jumps at "
                "the cutoff" if case_id.startswith("cgcnn") else True)


@pytest.mark.parametrize("case_id", IDS)
def test_outputs(case_id):
    model = built(case_id).double()
    graph = graph_of(list(structures().values()))
    out = model(graph)
    n, g = graph.num_atoms, graph.num_graphs
    assert out.energy.shape == (g,) and out.forces.shape == (n, 3)
    assert out.contributions.shape == (n,) and out.atom_energies.shape == (n,)
    assert out.latent.shape[0] == n and out.graph_correction.shape == (g,)
    assert torch.all(out.energy != 0)
    per_graph = torch.zeros(g, dtype=torch.float64).index_add(0, graph.batch, out.atom_energies)
    assert torch.allclose(per_graph, out.energy, atol=1e-9)
    if case_id != "cgcnn-mean":  # per-atom energies: E = 1.7 sum c_i - 0.3 N + 0.2 + sum eps
        c = torch.zeros(g, dtype=torch.float64).index_add(0, graph.batch, out.contributions)
        refs = torch.linspace(-1, 1, 119, dtype=torch.float64)[graph.z]
        expect = (1.7 * c - 0.3 * graph.natoms + 0.2
                  + torch.zeros(g, dtype=torch.float64).index_add(0, graph.batch, refs))
        assert torch.allclose(expect, out.energy, atol=1e-9)
    else:
        assert torch.all(out.contributions == 0)
    no_forces = model(graph, compute_forces=False)
    assert no_forces.forces is None
    assert torch.allclose(no_forces.energy, out.energy)


@pytest.mark.parametrize("case_id", IDS)
def test_float32(case_id):
    """float32 agrees with float64 (the precision the trainer uses by default)."""
    model = built(case_id)
    atoms = list(structures().values())
    e32, f32 = predict(model.float(), atoms, torch.float32)
    e64, f64 = predict(model.double(), atoms, torch.float64)
    np.testing.assert_allclose(e32, e64, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(f32, f64, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("case_id", IDS)
def test_forces_match_finite_differences(case_id):
    """-dE/dx (autograd, float64) against central differences, across the periodic boundary."""
    model = built(case_id).double()
    atoms = slab_with_adsorbate((True, True, False), seed=2)
    _, forces = predict(model, [atoms])
    assert np.abs(forces).max() > 1e-3
    eps, picks = 1e-5, [(i, k) for i in (0, 7, len(atoms) - 1) for k in range(3)]
    displaced = []
    for idx, k in picks:
        for sign in (1, -1):
            moved = atoms.copy()
            moved.positions[idx, k] += sign * eps
            displaced.append(moved)
    with torch.no_grad():
        energies = model(graph_of(displaced), compute_forces=False).energy.numpy()
    fd = -(energies[0::2] - energies[1::2]) / (2 * eps)
    autograd = np.array([forces[idx, k] for idx, k in picks])
    np.testing.assert_allclose(autograd, fd, rtol=1e-6, atol=1e-6)


def test_training_mode_keeps_force_graph():
    model = built("schnet").double().train()
    out = model(graph_of([slab_with_adsorbate()]))
    assert out.forces.requires_grad  # create_graph while training: a force loss backprops
    out.forces.pow(2).sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


@pytest.mark.parametrize("case_id", IDS)
def test_checkpoint_round_trip(case_id, tmp_path):
    model = built(case_id)
    name = next(c[1] for c in CASES if c[0] == case_id)
    path = tmp_path / "model.pt"
    save_checkpoint(path, model, model_name=name, metadata={"task": "s2ef"})
    loaded, payload = load_checkpoint(path)
    assert payload["model_name"] == name
    assert type(loaded) is type(model) and loaded.config == model.config
    assert float(loaded.normalization.energy_scale) == pytest.approx(1.7)
    atoms = [slab_with_adsorbate()]
    e1, f1 = predict(model, atoms, torch.float32)
    e2, f2 = predict(loaded, atoms, torch.float32)
    np.testing.assert_allclose(e2, e1, rtol=1e-6)
    np.testing.assert_allclose(f2, f1, rtol=1e-5, atol=1e-6)


def test_configs_round_trip_and_validate():
    for name, (_, config_cls) in BASELINES.items():
        cfg = baseline_config(name, cutoff=5.0)
        assert cfg.cutoff == 5.0 and cfg.force_head == "conservative"
        assert from_dict(config_cls, to_dict(cfg)) == cfg
        with pytest.raises(ConfigError, match="no native force head"):
            baseline_config(name, force_head="direct")
        with pytest.raises(ConfigError, match="unknown"):
            baseline_config(name, num_features=3)
        with pytest.raises(ConfigError, match="cutoff"):
            baseline_config(name, cutoff=0.0)
    with pytest.raises(ConfigError, match="unknown baseline"):
        build_baseline("megnet", {})


@pytest.mark.parametrize("name", sorted(UNAVAILABLE))
def test_unavailable_baselines_say_why(name):
    with pytest.raises(BaselineUnavailableError, match="torch_scatter|torch-scatter") as info:
        build_baseline(name, {})
    assert isinstance(info.value, MetaLegNetError)


def test_missing_library_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch_geometric.nn.models", None)
    with pytest.raises(BaselineUnavailableError, match=r"metalegnet\[baselines\]"):
        build_baseline("schnet", {})


def test_missing_schnetpack_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "schnetpack", None)
    with pytest.raises(BaselineUnavailableError, match="--no-deps 'schnetpack==2.1.1'"):
        build_baseline("painn", {})


def test_plain_import_needs_no_extra():
    code = ("import sys, metalegnet, metalegnet.model.baselines, metalegnet.checkpoint; "
            "bad = [m for m in ('torch_geometric', 'schnetpack') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_graph_cutoff_smaller_than_model_cutoff_is_an_error():
    model = built("cgcnn-sum")
    with pytest.raises(ConfigError, match="neighbour list"):
        model(atoms_to_graph(slab_with_adsorbate(), CUTOFF - 1.0))


def test_periodic_triplets_match_brute_force():
    from ase.build import bulk

    atoms = bulk("Cu", "fcc", a=3.6) * (1, 1, 2)  # 2 atoms: k = i through other images
    graph = atoms_to_graph(atoms, 3.0, dtype=torch.float64)
    edges = PeriodicEdges(graph, graph.pos, 3.0)
    idx_kj, idx_ji = periodic_triplets(edges.centre, edges.neighbour, edges.offsets,
                                       graph.num_atoms)
    got = sorted(zip(idx_kj.tolist(), idx_ji.tolist()))
    c, n, s = edges.centre.tolist(), edges.neighbour.tolist(), edges.offsets.tolist()
    want = sorted((kj, ji) for ji in range(len(c)) for kj in range(len(c))
                  if c[kj] == n[ji] and not (n[kj] == c[ji] and
                                             all(a == -b for a, b in zip(s[kj], s[ji]))))
    assert got == want and len(got) > 0
    assert any(n[kj] == c[ji] for kj, ji in got)  # periodic k = i triplets are kept
    vec = edges.vec
    assert torch.all((vec[idx_kj] + vec[idx_ji]).norm(dim=-1) > 1e-6)


def _molecule_graph():
    atoms = structures()["cluster"]
    return graph_of([atoms], torch.float64, cutoff=CUTOFF)


def test_schnet_wiring_matches_pyg_forward():
    model = built("schnet").double()
    graph = _molecule_graph()
    edges = PeriodicEdges(graph, graph.pos, CUTOFF)
    model.net.interaction_graph = lambda pos, batch: (edges.pyg, edges.dist)
    ours, _, _ = model.energy_terms(graph, graph.pos)
    theirs = model.net(graph.z, graph.pos, graph.batch).squeeze(-1)
    assert torch.allclose(ours, theirs, atol=1e-10)


def test_dimenet_wiring_matches_pyg_forward(monkeypatch):
    """On a molecule our edges/triplets are PyG's; the library forward must then agree."""
    dimenet = pytest.importorskip("torch_geometric.nn.models.dimenet")
    model = built("dimenet++").double()
    graph = _molecule_graph()
    edges = PeriodicEdges(graph, graph.pos, CUTOFF)

    def triplets(edge_index, num_nodes):
        j, i = edge_index
        idx_kj, idx_ji = periodic_triplets(i, j, edges.offsets, num_nodes)
        return i, j, i[idx_ji], j[idx_ji], j[idx_kj], idx_kj, idx_ji

    monkeypatch.setattr(dimenet, "radius_graph", lambda *a, **k: edges.pyg)
    monkeypatch.setattr(dimenet, "triplets", triplets)
    ours, _, _ = model.energy_terms(graph, graph.pos)
    theirs = model.net(graph.z, graph.pos, graph.batch).squeeze(-1)
    assert torch.allclose(ours, theirs, atol=1e-10)

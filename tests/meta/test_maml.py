"""Second-order MAML meta-gradient against central finite differences (float64, conservative
forces), and first-order MAML as a different quantity."""

from __future__ import annotations

import pytest
import torch

from metalegnet.data.labels import labels_for_task
from metalegnet.errors import ConfigError
from metalegnet.meta.maml import (
    MAMLConfig,
    exact_higher_derivatives,
    init_inner_lrs,
    meta_gradient,
    meta_loss,
    samples_graph,
)
from metalegnet.model import LegNet, LegNetConfig
from metalegnet.train.losses import LossScales, Objective


def _setup(emt_tasks, seed=0):
    torch.manual_seed(seed)
    model = LegNet(LegNetConfig(variant="vanilla", num_features=8, num_blocks=1, num_radial=4,
                                cutoff=4.0, force_head="conservative")).double()
    exact_higher_derivatives(model)
    model.normalization.set(scale=0.5, shift_atom=-0.2)
    samples = labels_for_task(emt_tasks[:12], "s2ef", "total")
    objective = Objective("energy", True, LossScales(energy=0.5, forces=0.5))
    batch = [(samples_graph(samples[0:2], 4.0, torch.float64),
              samples_graph(samples[2:4], 4.0, torch.float64)),
             (samples_graph(samples[6:8], 4.0, torch.float64),
              samples_graph(samples[8:10], 4.0, torch.float64))]
    return model, objective, batch


def _directional_fd(model, batch, objective, config, direction, eps, lrs=None):
    params = dict(model.named_parameters())
    values = []
    for sign in (1.0, -1.0):
        shifted = {n: (p + sign * eps * direction[n]).detach().requires_grad_(True)
                   for n, p in params.items()}
        values.append(float(meta_loss(model, batch, objective, config, lrs, shifted).detach()))
    return (values[0] - values[1]) / (2 * eps)


def _richardson(model, batch, objective, config, direction, eps):
    """Central differences at eps and eps/2, extrapolated: error O(eps^4)."""
    coarse = _directional_fd(model, batch, objective, config, direction, eps)
    fine = _directional_fd(model, batch, objective, config, direction, eps / 2)
    return (4 * fine - coarse) / 3


@pytest.mark.parametrize("task_shift", [False, True])
def test_second_order_meta_gradient_matches_finite_differences(emt_tasks, task_shift):
    model, objective, batch = _setup(emt_tasks)
    config = MAMLConfig(inner_steps=2, inner_lr=0.05, task_shift=task_shift)
    _, grads = meta_gradient(model, batch, objective, config)
    gen = torch.Generator().manual_seed(1)
    direction = {n: torch.randn(p.shape, generator=gen, dtype=p.dtype)
                 for n, p in model.named_parameters()}
    analytic = sum(float((grads[n] * direction[n]).sum()) for n in grads)
    numeric = _richardson(model, batch, objective, config, direction, 2e-5)
    assert abs(analytic) > 1e-3
    assert abs(analytic - numeric) / abs(numeric) < 1e-6

    fo = MAMLConfig(inner_steps=2, inner_lr=0.05, first_order=True, task_shift=task_shift)
    _, fo_grads = meta_gradient(model, batch, objective, fo)
    first = sum(float((fo_grads[n] * direction[n]).sum()) for n in fo_grads)
    # first-order MAML is another quantity: off by far more than the FD agreement
    assert abs(first - numeric) / abs(numeric) > 1e-3


def test_meta_sgd_rates_get_gradients(emt_tasks):
    model, objective, batch = _setup(emt_tasks)
    config = MAMLConfig(inner_steps=1, inner_lr=0.05, meta_sgd=True)
    lrs = init_inner_lrs(model, 0.05)
    loss = meta_loss(model, batch, objective, config, lrs)
    grads = torch.autograd.grad(loss, list(lrs.values()), allow_unused=True)
    assert any(g is not None and float(g.abs().sum()) > 0 for g in grads)
    # one rate equal everywhere reproduces plain MAML
    plain = meta_loss(model, batch, objective, MAMLConfig(inner_steps=1, inner_lr=0.05))
    assert float(loss.detach()) == pytest.approx(float(plain.detach()), rel=1e-12)


def test_inner_steps_lower_the_support_loss(emt_tasks):
    from metalegnet.meta.maml import inner_loop, task_loss

    model, objective, batch = _setup(emt_tasks)
    support = batch[0][0]
    params = dict(model.named_parameters())
    before = float(task_loss(model, params, support, objective))
    adapted = inner_loop(model, params, support, objective, 5, 0.02, keep_graph=False)
    after = float(task_loss(model, adapted, support, objective))
    assert after < before


def test_composed_layer_norm_equals_torch(emt_tasks):
    from metalegnet.data.graph import atoms_to_graph

    torch.manual_seed(0)
    cfg = LegNetConfig(variant="vanilla", num_features=8, num_blocks=2, cutoff=4.0)
    a, b = LegNet(cfg).double(), LegNet(cfg).double()
    b.load_state_dict(a.state_dict())
    exact_higher_derivatives(b)
    g = atoms_to_graph(emt_tasks[0], 4.0, dtype=torch.float64)
    oa, ob = a(g), b(g)
    assert torch.allclose(oa.energy, ob.energy, atol=1e-12)
    assert torch.allclose(oa.forces, ob.forces, atol=1e-12)
    assert set(a.state_dict()) == set(b.state_dict())


def test_meta_gradient_repeats_on_a_model_with_a_shared_submodule(emt_tasks):
    """PyG's SchNet registers one filter network under two parents; a second meta-gradient
    must still work and leave every model weight a leaf Parameter."""
    pytest.importorskip("torch_geometric")
    from metalegnet.model.baselines.schnet import SchNetBaseline, SchNetConfig

    torch.manual_seed(0)
    model = SchNetBaseline(SchNetConfig(hidden_channels=8, num_filters=8, num_interactions=1,
                                        num_gaussians=8, cutoff=4.0)).double()
    assert len(list(model.named_parameters(remove_duplicate=False))) > len(
        list(model.named_parameters()))  # the shared submodule is there
    samples = labels_for_task(emt_tasks[:4], "s2e", "total")
    objective = Objective("energy", False, LossScales(energy=0.5))
    batch = [(samples_graph(samples[:2], 4.0, torch.float64),
              samples_graph(samples[2:4], 4.0, torch.float64))]
    config = MAMLConfig(inner_steps=2, inner_lr=0.01, task_shift=True)
    first = meta_gradient(model, batch, objective, config)
    second = meta_gradient(model, batch, objective, config)
    assert torch.isclose(first[0], second[0])
    assert all(isinstance(p, torch.nn.Parameter) and p.is_leaf
               for _, p in model.named_parameters(remove_duplicate=False))
    assert any(float(g.abs().sum()) > 0 for g in second[1].values())


@pytest.mark.parametrize("first_order", [False, True])
def test_zero_shot_weight_adds_the_unadapted_query_loss(emt_tasks, first_order):
    """L_T = L_Q(theta_n) + w L_Q(theta): the term is the unshifted, unadapted query loss,
    and its gradient is that loss's own gradient (no inner step in it)."""
    from metalegnet.meta.maml import task_loss

    model, objective, batch = _setup(emt_tasks)
    base = MAMLConfig(inner_steps=1, inner_lr=0.05, first_order=first_order)
    anchored = MAMLConfig(inner_steps=1, inner_lr=0.05, first_order=first_order,
                          zero_shot_weight=0.5)
    params = dict(model.named_parameters())
    plain = sum(task_loss(model, params, q, objective) for _, q in batch) / len(batch)
    l0, g0 = meta_gradient(model, batch, objective, base)
    l1, g1 = meta_gradient(model, batch, objective, anchored)
    assert float(l1) == pytest.approx(float(l0) + 0.5 * float(plain.detach()), rel=1e-12)
    gp = torch.autograd.grad(plain, list(params.values()), allow_unused=True)
    for (n, p), g in zip(params.items(), gp):
        expect = g0[n] + 0.5 * (torch.zeros_like(p) if g is None else g)
        assert torch.allclose(g1[n], expect, rtol=1e-10, atol=1e-12), n
    with pytest.raises(ConfigError, match="zero_shot_weight"):
        MAMLConfig(zero_shot_weight=-1.0)

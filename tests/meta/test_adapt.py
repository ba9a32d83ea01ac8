"""Adaptation: cross-validated step count, zero-shot fallback, per-task shift in mu_graph."""

from __future__ import annotations

import torch

from metalegnet.data.labels import labels_for_task
from metalegnet.meta.adapt import AdaptConfig, adapt
from metalegnet.meta.maml import samples_graph, task_loss
from metalegnet.model import LegNet, LegNetConfig
from metalegnet.train.losses import LossScales, Objective


def _model(shift=0.0):
    torch.manual_seed(0)
    model = LegNet(LegNetConfig(variant="vanilla", num_features=8, num_blocks=1, cutoff=4.0))
    model.normalization.set(scale=0.3, shift_graph=shift)
    return model


def _loss(model, samples, objective):
    g = samples_graph(samples, model.cutoff)
    params = dict(model.named_parameters())
    return float(task_loss(model, params, g, objective, create_graph=False).detach())


def test_adapt_beats_zero_shot_on_an_offset_task(emt_tasks):
    samples = labels_for_task(emt_tasks[:6], "s2e", "total")
    objective = Objective("energy", False, LossScales(energy=0.3))
    model = _model(shift=-3.0)  # zero-shot is off by a constant: adaptation must find it
    result = adapt(model, samples[:4], objective, 0.01, AdaptConfig(step_grid=[0, 2]))
    assert result.choice != "zero-shot"
    assert _loss(result.model, samples[4:], objective) < _loss(model, samples[4:], objective)
    shift = float(result.model.normalization.energy_shift_graph)
    assert abs(shift - (-3.0 + result.shift)) < 1e-6
    assert set(result.cv) == {"zero-shot", "steps=0", "steps=2"}


def test_adapt_falls_back_to_zero_shot(emt_tasks):
    samples = labels_for_task(emt_tasks[:6], "s2e", "total")
    objective = Objective("energy", False, LossScales(energy=0.3))
    model = _model()
    one = adapt(model, samples[:1], objective, 0.01)
    assert one.choice == "zero-shot" and "fewer than 2" in one.reason
    for a, b in zip(one.model.state_dict().values(), model.state_dict().values()):
        assert torch.equal(a, b)
    # a rate that only makes things worse: cross-validation keeps zero-shot
    exact = adapt(model, samples[:4], objective, 50.0,
                  AdaptConfig(step_grid=[1, 2], task_shift=False))
    assert exact.choice == "zero-shot"


def test_small_support_policy_chosen_on_source_tasks(emt_tasks):
    from metalegnet.meta.adapt import small_support_policy
    from metalegnet.meta.tasks import build_tasks

    samples = labels_for_task(emt_tasks, "s2e", "total")
    tasks = build_tasks(samples, ["surface", "adsorbate"])
    objective = Objective("energy", False, LossScales(energy=0.3))
    model = _model(shift=-3.0)
    policy = small_support_policy(model, tasks[:3], objective, 0.01, [0, 1])
    assert policy["choice"] != "zero-shot" and policy["draws"] == 6
    one = adapt(model, samples[18:19], objective, 0.01,
                small_support_choice=policy["choice"])
    assert one.choice == policy["choice"]
    assert _loss(one.model, samples[19:], objective) < _loss(model, samples[19:], objective)

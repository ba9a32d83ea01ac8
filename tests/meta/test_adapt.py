"""Adaptation: cross-validated step count, zero-shot fallback, per-task shift in mu_graph."""

from __future__ import annotations

import pytest
import torch

from metalegnet.data.labels import labels_for_task
from metalegnet.errors import ConfigError
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


def test_shrinkage_weight_is_positive_part_james_stein():
    from metalegnet.meta.adapt import shrinkage_weight

    assert shrinkage_weight(2.0, 1.0, 1) == pytest.approx(0.75)  # 1 - 1 / 4
    assert shrinkage_weight(-2.0, 1.0, 4) == pytest.approx(1 - 1 / 16)  # s^2 / k
    assert shrinkage_weight(0.5, 1.0, 1) == 0.0  # within the noise: no shift
    assert shrinkage_weight(0.0, 1.0, 1) == 0.0
    with pytest.raises(ConfigError):
        shrinkage_weight(1.0, 1.0, 0)


def test_held_out_rmse_only_from_a_split_by_task():
    from metalegnet.meta.adapt import held_out_rmse

    val = {"energy_rmse": 0.4, "energy_mae": 0.3}
    assert held_out_rmse({"val": val, "train_config": {"group_by": ["metal"]}}) == 0.4
    assert held_out_rmse({"val": val, "train_config": {"group_by": []}}) is None  # frames
    assert held_out_rmse({"meta": {"k1_noise_rmse": 0.7}, "train_config": {}}) == 0.7
    assert held_out_rmse({}) is None


def test_shrunk_shift_with_one_structure(emt_tasks):
    from metalegnet.meta.adapt import shrinkage_weight

    samples = labels_for_task(emt_tasks[:6], "s2e", "total")
    objective = Objective("energy", False, LossScales(energy=0.3))
    model = _model(shift=-3.0)  # zero-shot is off by a constant
    one = samples[:1]
    with torch.no_grad():
        residual = float(one[0].labels["energy"]) - float(
            model(samples_graph(one, model.cutoff), compute_forces=False).energy[0])
    small = adapt(model, one, objective, 0.01, small_support_choice="shrunk-shift",
                  small_support_noise=0.1 * abs(residual))
    w = shrinkage_weight(residual, 0.1 * abs(residual), 1)
    assert small.choice == "shrunk-shift" and "James-Stein" in small.reason
    assert small.shift == pytest.approx(w * residual, rel=1e-5) and w == pytest.approx(0.99)
    assert small.weight == pytest.approx(w) and small.summary()["shrinkage_weight"] == small.weight
    assert _loss(small.model, samples[1:], objective) < _loss(model, samples[1:], objective)
    # a residual within the model's error on unseen tasks leaves the model as it is
    big = adapt(model, one, objective, 0.01, small_support_choice="shrunk-shift",
                small_support_noise=2 * abs(residual))
    assert big.shift == 0.0
    for a, b in zip(big.model.state_dict().values(), model.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(ConfigError):  # the policy needs s
        adapt(model, one, objective, 0.01, small_support_choice="shrunk-shift")


def test_one_se_selection_needs_evidence_against_zero_shot():
    from metalegnet.meta.adapt import select_candidate

    noisy = {"zero-shot": [1.0, 1.0, 1.0, 1.0], "steps=4": [0.2, 1.9, 0.3, 1.5]}  # mean 0.975
    assert select_candidate(noisy, "min") == "steps=4"
    assert select_candidate(noisy, "one-se") == "zero-shot"  # gain 0.025, SE about 0.43
    clear = {"zero-shot": [1.0, 1.1, 0.9, 1.0], "steps=4": [0.5, 0.6, 0.4, 0.5],
             "steps=8": [0.6, 0.6, 0.6, 0.6]}
    assert select_candidate(clear, "one-se") == "steps=4" == select_candidate(clear, "min")
    tie = {"zero-shot": [0.5, 0.5], "steps=1": [0.5, 0.5]}
    assert select_candidate(tie, "min") == "zero-shot"
    with pytest.raises(ConfigError, match="selection"):
        AdaptConfig(selection="best")

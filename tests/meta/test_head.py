"""The ridge head: exact linearity of E in the last layer, the closed form, cross-validated
adaptation, meta-training through the solve, and ``metalegnet adapt`` on such a checkpoint."""

from __future__ import annotations

import math

import pytest
import torch

from metalegnet.data.labels import labels_for_task
from metalegnet.errors import ConfigError
from metalegnet.meta.head import (
    SHIFT,
    adapt_head,
    head_features,
    head_meta_loss,
    solve_head,
)
from metalegnet.meta.maml import samples_graph
from metalegnet.model import LegNet, LegNetConfig
from metalegnet.train.losses import LossScales, Objective


def _model(variant="vanilla", dtype=torch.float64):
    torch.manual_seed(0)
    model = LegNet(LegNetConfig(variant=variant, num_features=8, num_blocks=1, cutoff=4.0,
                                voxel_sizes=(3.0,)))
    model.normalization.set(scale=0.3, shift_graph=-2.0)
    return model.to(dtype)


@pytest.mark.parametrize("variant", ["vanilla", "full"])
def test_energy_is_exactly_linear_in_the_last_layer(emt_tasks, variant):
    model = _model(variant)
    g = samples_graph(labels_for_task(emt_tasks[:5], "s2e", "total"), 4.0, torch.float64)
    with torch.no_grad():
        f = head_features(model, g)
        delta = torch.randn(f.phi.shape[1], dtype=torch.float64)
        last = model.output.local[-1]
        last.weight.add_(delta[:-1].view_as(last.weight))
        last.bias.add_(delta[-1])
        changed = model(g, compute_forces=False).energy
    assert torch.allclose(changed - f.energy, f.phi @ delta, atol=1e-10, rtol=1e-10)


def test_solve_head_closed_form():
    torch.manual_seed(1)
    phi = torch.randn(6, 4, dtype=torch.float64)
    r = phi @ torch.tensor([1.0, -2.0, 0.5, 0.0], dtype=torch.float64) + 3.0
    delta, c = solve_head(phi, r, 1e-10)  # nearly unregularised: recovers the truth
    assert torch.allclose(phi @ delta + c, r, atol=1e-6)
    # lambda -> infinity and k = 1 give the mean residual only
    d_inf, c_inf = solve_head(phi, r, math.inf)
    assert torch.count_nonzero(d_inf) == 0 and torch.isclose(c_inf, r.mean())
    d1, c1 = solve_head(phi[:1], r[:1], 1.0)
    assert torch.count_nonzero(d1) == 0 and torch.isclose(c1, r[0])
    # the dual (k x k) solve equals the primal ridge solution with an unpenalised intercept
    lam_rel = 0.3
    pc, rc = phi - phi.mean(0), r - r.mean()
    lam = lam_rel * (pc * pc).sum(1).mean()
    primal = torch.linalg.solve(pc.T @ pc + lam * torch.eye(4, dtype=phi.dtype), pc.T @ rc)
    delta, _ = solve_head(phi, r, lam_rel)
    assert torch.allclose(delta, primal, atol=1e-10)


def test_adapt_head_learns_a_task_and_keeps_zero_shot_when_it_does_not_help(emt_tasks):
    samples = labels_for_task(emt_tasks[:6], "s2e", "total")
    model = _model()  # untrained: off by far more than a constant
    r = adapt_head(model, samples[:4], "energy", lambda_rel=1.0, folds=4)
    assert r.choice != "zero-shot" and set(r.cv) >= {"zero-shot", SHIFT}
    g = samples_graph(samples[4:], 4.0, torch.float64)
    y = g.labels["energy"]
    with torch.no_grad():
        before = (model(g, compute_forces=False).energy - y).abs().mean()
        after = (r.model(g, compute_forces=False).energy - y).abs().mean()
    assert after < before
    # the adapted model is an ordinary LegNet: forces come with it
    out = r.model(g, compute_forces=True)
    assert out.forces is not None and torch.isfinite(out.forces).all()
    # a model already exact on the task keeps zero-shot (ties go to zero-shot)
    exact = [s for s in samples[:4]]
    with torch.no_grad():
        e = model(samples_graph(exact, 4.0, torch.float64), compute_forces=False).energy
    for s, v in zip(exact, e):
        s.labels["energy"] = torch.tensor(float(v), dtype=torch.float64)
    kept = adapt_head(model, exact, "energy", folds=4)
    assert kept.choice == "zero-shot"
    for a, b in zip(kept.model.state_dict().values(), model.state_dict().values()):
        assert torch.equal(a, b)
    one = adapt_head(model, samples[:1], "energy")
    assert one.choice == "zero-shot" and "fewer than 2" in one.reason
    shifted = adapt_head(model, samples[:1], "energy", small_support_choice=SHIFT)
    assert shifted.choice == SHIFT


def test_head_meta_loss_is_differentiable_and_refuses_forces(emt_tasks):
    samples = labels_for_task(emt_tasks[:12], "s2e", "total")
    model = _model()
    batch = [(samples_graph(samples[:3], 4.0, torch.float64),
              samples_graph(samples[3:6], 4.0, torch.float64)),
             (samples_graph(samples[6:7], 4.0, torch.float64),
              samples_graph(samples[7:12], 4.0, torch.float64))]
    log_lam = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    loss = head_meta_loss(model, batch, Objective("energy", False, LossScales(0.3)), log_lam)
    loss.backward()
    assert log_lam.grad is not None and torch.isfinite(log_lam.grad)
    assert model.embedding.weight.grad.abs().sum() > 0
    with pytest.raises(ConfigError, match="energies"):
        head_meta_loss(model, batch, Objective("energy", True, LossScales(0.3)), log_lam)
    # the zero-shot term adds w times the uncorrected model's query loss
    from metalegnet.meta.maml import task_loss

    obj = Objective("energy", False, LossScales(0.3))
    with torch.no_grad():
        params = dict(model.named_parameters())
        plain = sum(float(task_loss(model, params, q, obj, create_graph=False))
                    for _, q in batch) / len(batch)
        l0 = float(head_meta_loss(model, batch, obj, log_lam))
        l1 = float(head_meta_loss(model, batch, obj, log_lam, zero_shot_weight=2.0))
    assert l1 == pytest.approx(l0 + 2.0 * plain, rel=1e-10)


def test_meta_training_through_the_head_lowers_its_meta_loss(tmp_path, emt_tasks):
    from metalegnet.checkpoint import load_checkpoint
    from metalegnet.meta.config import MetaTrainConfig
    from metalegnet.meta.train import MetaTrainer

    cfg = MetaTrainConfig(data="unused", group_by=["surface", "adsorbate"], task="s2e",
                          energy_target="total", inner="ridge-head",
                          model_config={"num_features": 8, "num_blocks": 1}, cutoff=4.0,
                          support=4, query=2, meta_batch=2, meta_steps=30,
                          outer_lr=5e-3, checkpoint_every=4, progress=False,
                          targets="surface=Au", zero_shot_weight=0.0)  # the head's own loss
    trainer = MetaTrainer(cfg, tmp_path / "run", structures=emt_tasks, log=lambda *_: None)
    # a fixed evaluation batch: 3 support + 3 query structures of every source task
    source = trainer.data.source
    batch = [(samples_graph(t.samples[:3], 4.0), samples_graph(t.samples[3:], 4.0))
             for t in source]
    objective, log_lam = trainer.objective, trainer.log_lambda.detach()
    with torch.no_grad():
        before = float(head_meta_loss(trainer.model, batch, objective, log_lam))
    trainer.fit()
    trained, payload = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    with torch.no_grad():
        after = float(head_meta_loss(trained, batch, objective,
                                     torch.log(torch.tensor(payload["metadata"]["meta"]
                                                            ["head_lambda"]))))
    assert after < 0.8 * before
    meta = payload["metadata"]["meta"]
    assert meta["inner"] == "ridge-head" and meta["head_lambda"] > 0
    assert meta["small_support"]["choice"] in ("zero-shot", SHIFT)


def test_ridge_head_cli_resumes_exactly_and_adapt_beats_zero_shot(tmp_path, emt_tasks):
    import numpy as np
    from ase.io import write

    from metalegnet.calculator import MetaLegNetCalculator
    from metalegnet.checkpoint import load_checkpoint
    from metalegnet.cli import main
    from metalegnet.meta.config import load_meta_config
    from metalegnet.meta.train import meta_train

    from .conftest import emt_slab
    from .test_commands import TINY, _mae, _yaml

    src = tmp_path / "source.extxyz"
    write(src, emt_tasks)
    args = ["meta-train", "--data", str(src), "--group-by", "surface,adsorbate",
            "--targets", "surface=Au", "--task", "s2e", "--energy-target", "total",
            "--inner", "ridge-head", "--meta-steps", "6", "--checkpoint-every", "2",
            "--outer-lr", "0.005", "--config", _yaml(tmp_path), *TINY]
    assert main([*args, "--out", str(tmp_path / "whole")]) == 0
    # killed after 3 steps (last.pt at step 2), resumed: the same weights and lambda
    cfg = load_meta_config(str(tmp_path / "whole" / "config.yaml"))
    with pytest.raises(KeyboardInterrupt):
        meta_train(cfg, tmp_path / "killed", log=lambda *_: None, stop_after_steps=3)
    assert main(["meta-train", "--out", str(tmp_path / "killed"), "--resume",
                 "--no-progress"]) == 0
    whole = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=True)
    killed = torch.load(tmp_path / "killed" / "checkpoint.pt", weights_only=True)
    for name, value in whole["state_dict"].items():
        assert torch.allclose(value, killed["state_dict"][name], atol=1e-6), name
    assert whole["metadata"]["meta"]["head_lambda"] == pytest.approx(
        killed["metadata"]["meta"]["head_lambda"], rel=1e-6)
    # adapt on five structures of an unseen system: the checkpoint's method by default
    new = [emt_slab("Ag", "CO", seed) for seed in range(100, 110)]
    support, query = new[:5], new[5:]
    write(tmp_path / "support.extxyz", support)
    out = tmp_path / "adapted.pt"
    assert main(["adapt", str(tmp_path / "whole" / "checkpoint.pt"), "--support",
                 str(tmp_path / "support.extxyz"), "-o", str(out)]) == 0
    base, _ = load_checkpoint(tmp_path / "whole" / "checkpoint.pt")
    adapted, payload = load_checkpoint(out)
    info = payload["metadata"]["adaptation"]
    assert info["method"] == "ridge-head" and info["choice"] != "zero-shot"
    assert _mae(adapted, query) < 0.9 * _mae(base, query)
    atoms = query[0].copy()
    atoms.calc = MetaLegNetCalculator.from_checkpoint(out)
    assert np.isfinite(atoms.get_forces()).all()
    # the ridge head has no inner steps to set
    assert main(["adapt", str(tmp_path / "whole" / "checkpoint.pt"), "--support",
                 str(tmp_path / "support.extxyz"), "-o", str(out), "--steps", "2"]) == 2
    assert main(["adapt", str(tmp_path / "whole" / "checkpoint.pt"), "--support",
                 str(tmp_path / "support.extxyz"), "-o", str(out), "--no-task-shift"]) == 2


def test_ridge_head_config_checks():
    from metalegnet.meta.config import MetaTrainConfig

    with pytest.raises(ConfigError, match="s2e"):
        MetaTrainConfig(inner="ridge-head", task="s2ef")
    with pytest.raises(ConfigError, match="inner"):
        MetaTrainConfig(inner="newton")
    with pytest.raises(ConfigError, match="head_lambda"):
        MetaTrainConfig(inner="ridge-head", head_lambda=0.0)


def test_force_rows_are_exact_and_the_fit_lowers_the_support_force_error(emt_tasks):
    from metalegnet.meta.head import solve_rows, support_rows
    from metalegnet.train.losses import force_mask

    samples = labels_for_task(emt_tasks[:4], "s2ef", "total")
    model = _model()
    rows = support_rows(model, samples, "energy", LossScales(0.3, 0.5))
    assert rows.a is not None and len(rows.a) == 4
    # forces are linear in the last layer: F(theta_0 + delta) = F(theta_0) - delta . dphi/dx
    g = samples_graph(samples, 4.0, torch.float64)
    free = force_mask(g, "free")
    before = model(g).forces.detach()[free].reshape(-1)
    delta = 0.1 * torch.randn(rows.phi.shape[1], dtype=torch.float64)
    changed = _model()
    with torch.no_grad():
        last = changed.output.local[-1]
        last.weight.add_(delta[:-1].view_as(last.weight))
        last.bias.add_(delta[-1])
    after = changed(g).forces.detach()[free].reshape(-1)
    assert torch.allclose(after - before, -torch.cat(rows.a) @ delta, atol=1e-9)
    # the weighted fit lowers the support force error (a wrong sign would raise it)
    d, c = solve_rows(rows, 1e-6)
    err0 = torch.cat(rows.rf).abs().mean()
    err1 = torch.cat([rf + a @ d for a, rf in zip(rows.a, rows.rf)]).abs().mean()
    assert err1 < 0.9 * err0
    # without force rows the primal path is the energy-only closed form
    e_only = support_rows(model, samples, "energy")
    assert e_only.a is None and torch.allclose(e_only.phi, rows.phi)

"""The few-shot methods compared by ``metalegnet bench fewshot``, each a function
``(models, support, query, seed) -> (prediction, info)`` on the same support/query draws.
The prediction is the adapted model (a ``torch.nn.Module``), or an array of query energies
(eV) for the methods that are no model (ridge, references); :func:`score` turns either into
the query MAE of the setting's task: adsorption energy (``s2e``, eV) or forces on the free
atoms (``s2f``, eV/Å; only the methods of :data:`FORCE_METHODS`).

=====================  ===================================================================
``meta-legnet``        meta-trained LegNet (MAML, :mod:`metalegnet.meta`), adapted with
                       :func:`metalegnet.meta.adapt.adapt` (steps by cross-validation on
                       the support set, zero-shot fallback; k = 1: the support residual
                       shrunk by the pretraining's error on unseen tasks, ``shrunk-shift``)
``meta-legnet-fixed``  the same, always the meta-trained number of inner steps (no CV)
``meta-legnet-head``   LegNet meta-trained through the closed-form ridge head
                       (:mod:`metalegnet.meta.head`, ``inner: ridge-head``, from the same
                       pretraining), adapted with :func:`metalegnet.meta.head.adapt_head`
                       (zero-shot / shift / ridge strengths by cross-validation on the
                       support set; k = 1: the choice made on the source tasks)
``legnet+head``        ablation: the *pretrained* LegNet through the same ridge-head
                       adaptation (lambda_rel = 1; k = 1: zero-shot); in ``s2f`` settings
                       both heads fit the support forces too
``legnet+adapt``       ablation: the *pretrained* LegNet through the same adaptation, k = 1
                       included (what the adaptation procedure gives without meta-training)
``fine-tuned-legnet``  pretrained LegNet, all weights fine-tuned on the support set with
                       Adam (fixed steps and rate; what fairchem/MACE users do)
``ridge``              scikit-learn RidgeCV on frozen pretrained features: the graph mean
                       of the final atom features s_i plus the zero-shot prediction,
                       standardised (k < 2: the support mean)
``scratch-legnet``     a new LegNet trained on the support set alone (energy reference:
                       the support mean)
``zero-shot-legnet``   the pretrained LegNet, no adaptation
``zero-shot+shift``    the pretrained LegNet plus one constant, the mean residual on the
                       support set (the cheapest adaptation: a per-task energy reference)
``support-mean``       trivial reference: the mean support energy for every query
``zero-forces``        trivial reference of ``s2f``: F = 0 on every free atom
``composition-ridge``  trivial reference: RidgeCV on element counts, fitted on the support
                       set (within one task the slab is fixed, so this is a per-adsorbate-
                       element fit; k < 2: the support mean)
``meta-schnet``,       the same pretraining, MAML meta-training and adaptation as
``meta-cgcnn``,        ``meta-legnet`` applied to a library baseline (sizes in
``meta-painn``         :data:`META_BASELINES`); run only when asked for (``--meta-baselines``)
=====================  ===================================================================
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from metalegnet.data.labels import Sample
from metalegnet.meta.adapt import DEFAULT_STEP_GRID, SHRUNK_SHIFT, AdaptConfig, adapt
from metalegnet.meta.head import adapt_head
from metalegnet.meta.maml import samples_graph, task_loss
from metalegnet.model import LegNet
from metalegnet.train.losses import LossScales, Objective, force_mask

LABEL = "e_ads"

#: Baselines for ``meta-<name>``: model configs about the size of the few-shot LegNet
#: (F = 16, 2 blocks: 10-30 k weights) and the pretraining learning rates the v2 accuracy
#: bench's tuning chose for each (``bench/configs/bench_full.yaml``).
META_BASELINES: dict[str, dict] = {
    "schnet": {"lr": 0.01, "model_config": {"hidden_channels": 32, "num_filters": 32,
                                            "num_interactions": 2, "num_gaussians": 25}},
    "cgcnn": {"lr": 0.001, "model_config": {"atom_features": 32, "hidden_features": 64,
                                            "num_conv": 2, "num_gaussians": 25}},
    "painn": {"lr": 0.003, "model_config": {"n_atom_basis": 16, "n_interactions": 2,
                                            "n_rbf": 16}},
}


@dataclass
class FewShotModels:
    """What the methods start from (loaded once per setting)."""

    pretrained: torch.nn.Module
    meta: torch.nn.Module | None
    inner_lr: float | dict
    inner_steps: int
    sigma_energy: float
    use_forces: bool = False  # s2f settings: the support sets' forces enter every loss
    sigma_forces: float = 1.0
    finetune_steps: int = 30
    finetune_lr: float = 1e-3
    scratch_steps: int = 60
    scratch_lr: float = 5e-3
    step_grid: tuple[int, ...] = DEFAULT_STEP_GRID
    folds: int = 4
    small_support_choice: str | None = None  # meta-training's k = 1 choice (recorded only)
    #: s of the shrunk k = 1 shift (eV): the pretraining's energy RMSE on its validation
    #: tasks (:func:`metalegnet.meta.adapt.held_out_rmse`); ``None``: k = 1 stays zero-shot
    k1_noise: float | None = None
    baselines: dict[str, FewShotModels] = field(default_factory=dict)  # meta-<name>
    head_meta: torch.nn.Module | None = None  # meta-trained through the ridge head
    head_lambda: float = 1.0  # its learned lambda_rel
    head_small_support_choice: str | None = None  # its k = 1 choice on the source tasks

    @property
    def objective(self) -> Objective:
        return Objective(LABEL, self.use_forces,
                         LossScales(energy=self.sigma_energy, forces=self.sigma_forces))


def targets(samples: Sequence[Sample]) -> np.ndarray:
    return np.asarray([float(s.labels[LABEL]) for s in samples])


def energies(model: torch.nn.Module, samples: Sequence[Sample], batch: int = 32
             ) -> np.ndarray:
    """E_G (eV) of every sample (no forces)."""
    model.eval()
    dtype = next(model.parameters()).dtype
    out = []
    with torch.no_grad():
        for k in range(0, len(samples), batch):
            g = samples_graph(samples[k:k + batch], model.cutoff, dtype)
            out.append(model(g, compute_forces=False).energy.double().numpy())
    return np.concatenate(out)


def graph_features(model: torch.nn.Module, samples: Sequence[Sample], batch: int = 32
                   ) -> np.ndarray:
    """Graph means of the final atom features s_i ``[G, F]`` plus E_G: ``[G, F + 1]``."""
    model.eval()
    dtype = next(model.parameters()).dtype
    rows = []
    with torch.no_grad():
        for k in range(0, len(samples), batch):
            g = samples_graph(samples[k:k + batch], model.cutoff, dtype)
            out = model(g, compute_forces=False)
            f = out.latent.new_zeros(g.num_graphs, out.latent.shape[1])
            f = f.index_add(0, g.batch, out.latent) / g.natoms.unsqueeze(1).to(f.dtype)
            rows.append(torch.cat([f, out.energy.unsqueeze(1)], 1).double().numpy())
    return np.concatenate(rows)


def _train(model: torch.nn.Module, support: Sequence[Sample], objective: Objective,
           steps: int, lr: float) -> torch.nn.Module:
    """Full-batch Adam on the support set (the training loss)."""
    graph = samples_graph(support, model.cutoff, next(model.parameters()).dtype)
    params = dict(model.named_parameters())
    opt = torch.optim.Adam(params.values(), lr=lr)
    model.train()
    for _ in range(steps):
        loss = task_loss(model, params, graph, objective,
                         create_graph=objective.use_forces)  # a force loss needs dF/dtheta
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    model.eval()
    return model


def meta_legnet(m: FewShotModels, support, query, seed: int, fixed: bool = False,
                selection: str = "min"):
    """MAML adaptation of the meta-trained model (``selection``: how cross-validation
    picks the steps, :class:`~metalegnet.meta.adapt.AdaptConfig`)."""
    cfg = AdaptConfig(steps=m.inner_steps if fixed else None, step_grid=list(m.step_grid),
                      folds=m.folds, seed=seed, selection=selection)
    r = adapt(m.meta, support, m.objective, m.inner_lr, cfg, **_k1(m))
    return r.model, _adapt_info(r)


def _adapt_info(r) -> dict:
    info = {"choice": r.choice, "seconds": r.seconds}
    if r.weight is not None:
        info.update(shift_eV=r.shift, shrinkage_weight=r.weight)
    return info


def _k1(m: FewShotModels) -> dict:
    """The k = 1 policy of :func:`meta_legnet` and :func:`legnet_adapt`: the shrunk shift
    where the pretraining's error on unseen tasks is known, else zero-shot."""
    if m.k1_noise is None:
        return {}
    return {"small_support_choice": SHRUNK_SHIFT, "small_support_noise": m.k1_noise}


def meta_legnet_head(m: FewShotModels, support, query, seed: int):
    if m.head_meta is None:
        raise KeyError("meta-legnet-head: no ridge-head meta-training for this setting")
    r = adapt_head(m.head_meta, support, LABEL, m.head_lambda, m.folds, seed,
                   small_support_choice=m.head_small_support_choice,
                   forces=m.objective.scales if m.use_forces else None)
    return r.model, {"choice": r.choice, "seconds": r.seconds}


def legnet_head(m: FewShotModels, support, query, seed: int):
    r = adapt_head(m.pretrained, support, LABEL, 1.0, m.folds, seed,
                   forces=m.objective.scales if m.use_forces else None)
    return r.model, {"choice": r.choice, "seconds": r.seconds}


def legnet_adapt(m: FewShotModels, support, query, seed: int):
    lr = m.inner_lr if isinstance(m.inner_lr, float) else 0.01
    cfg = AdaptConfig(step_grid=list(m.step_grid), folds=m.folds, seed=seed)
    r = adapt(m.pretrained, support, m.objective, lr, cfg, **_k1(m))
    return r.model, _adapt_info(r)


def fine_tuned(m: FewShotModels, support, query, seed: int):
    torch.manual_seed(seed)
    model = _train(copy.deepcopy(m.pretrained), support, m.objective, m.finetune_steps,
                   m.finetune_lr)
    return model, {}


def ridge(m: FewShotModels, support, query, seed: int):
    y = targets(support)
    if len(support) < 2:
        return np.full(len(query), float(y.mean())), {}
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    reg = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13)))
    reg.fit(graph_features(m.pretrained, support), y)
    return reg.predict(graph_features(m.pretrained, query)), {}


def scratch(m: FewShotModels, support, query, seed: int):
    torch.manual_seed(seed)
    model = LegNet(copy.deepcopy(m.pretrained.config))
    y = targets(support)
    scale = float(y.std()) if len(y) > 1 and y.std() > 1e-3 else 1.0
    model.normalization.set(scale=scale, shift_graph=float(y.mean()))
    objective = Objective(LABEL, m.use_forces,
                          LossScales(energy=scale, forces=m.sigma_forces))
    model = _train(model, support, objective, m.scratch_steps, m.scratch_lr)
    return model, {}


def zero_shot(m: FewShotModels, support, query, seed: int):
    return m.pretrained, {}


def zero_shot_shift(m: FewShotModels, support, query, seed: int):
    shift = float(np.mean(targets(support) - energies(m.pretrained, support)))
    return energies(m.pretrained, query) + shift, {}


def zero_forces(m: FewShotModels, support, query, seed: int):
    return None, {}  # :func:`score`: F = 0


def support_mean(m: FewShotModels, support, query, seed: int):
    return np.full(len(query), float(targets(support).mean())), {}


def composition_ridge(m: FewShotModels, support, query, seed: int):
    y = targets(support)
    if len(support) < 2:
        return np.full(len(query), float(y.mean())), {}
    from sklearn.linear_model import RidgeCV

    elements = sorted({z for s in list(support) + list(query) for z in s.atoms.numbers})

    def counts(samples) -> np.ndarray:
        return np.array([[np.sum(s.atoms.numbers == z) for z in elements] for s in samples],
                        float)

    reg = RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(counts(support), y)
    return reg.predict(counts(query)), {}


def meta_baseline(name: str):
    """``meta-<name>``: :func:`meta_legnet` on the meta-trained baseline ``name``."""
    def method(m: FewShotModels, support, query, seed: int):
        if name not in m.baselines:
            raise KeyError(f"meta-{name}: the baseline was not meta-trained for this setting")
        return meta_legnet(m.baselines[name], support, query, seed)
    return method


def forces_mae(model: torch.nn.Module | None, samples: Sequence[Sample], batch: int = 16
               ) -> float:
    """Mean absolute force error (eV/Å) over every component of the free atoms (tag > 0,
    not fixed) of ``samples``; ``model=None``: zero forces."""
    errors = []
    dtype = torch.float64 if model is None else next(model.parameters()).dtype
    for k in range(0, len(samples), batch):
        g = samples_graph(samples[k:k + batch], 2.0 if model is None else model.cutoff,
                          dtype)
        mask = force_mask(g, "free")
        target = g.labels["forces"][mask]
        if model is None:
            pred = torch.zeros_like(target)
        else:
            model.eval()
            pred = model(g, compute_forces=True).forces.detach()[mask]
        errors.append((pred - target).abs().double().reshape(-1))
    return float(torch.cat(errors).mean())


def score(prediction, query: Sequence[Sample], task: str = "s2e") -> float:
    """Query MAE of a method's prediction: adsorption energy (eV) or forces (eV/Å)."""
    if task == "s2f":
        if prediction is not None and not isinstance(prediction, torch.nn.Module):
            raise TypeError("an s2f score needs a model (or None for zero forces)")
        return forces_mae(prediction, query)
    if prediction is None:
        raise TypeError("zero-forces has no energy prediction")
    pred = (energies(prediction, query) if isinstance(prediction, torch.nn.Module)
            else np.asarray(prediction))
    return float(np.mean(np.abs(pred - targets(query))))


METHODS = {
    "meta-legnet": meta_legnet,
    "meta-legnet-fixed": lambda m, s, q, seed: meta_legnet(m, s, q, seed, fixed=True),
    "meta-legnet-1se": lambda m, s, q, seed: meta_legnet(m, s, q, seed, selection="one-se"),
    "meta-legnet-head": meta_legnet_head,
    "legnet+adapt": legnet_adapt,
    "legnet+head": legnet_head,
    "fine-tuned-legnet": fine_tuned,
    "ridge": ridge,
    "scratch-legnet": scratch,
    "zero-shot-legnet": zero_shot,
    "zero-shot+shift": zero_shot_shift,
    "support-mean": support_mean,
    "zero-forces": zero_forces,
    "composition-ridge": composition_ridge,
    **{f"meta-{name}": meta_baseline(name) for name in META_BASELINES},
}
#: What runs by default (the meta-baselines need their own pretraining and meta-training).
DEFAULT_METHODS = [k for k in METHODS if k.removeprefix("meta-") not in META_BASELINES
                   and k not in ("zero-forces", "meta-legnet-1se")]
#: The methods of an ``s2f`` setting: those that give a model (forces -dE/dx), and F = 0.
FORCE_METHODS = ["meta-legnet", "meta-legnet-fixed", "meta-legnet-head", "legnet+adapt",
                 "legnet+head", "fine-tuned-legnet", "scratch-legnet", "zero-shot-legnet",
                 "zero-forces"]

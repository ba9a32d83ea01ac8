"""Unit checks of the training pieces: loss normalisation, metrics, schedule, EMA, sharding,
energy normalisation and the config."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from ase import Atoms

from metalegnet.data.graph import atoms_to_graph, collate
from metalegnet.data.labels import Sample
from metalegnet.errors import ConfigError
from metalegnet.train import distributed as D
from metalegnet.train.config import TrainConfig, config_from_dict, load_config, save_config
from metalegnet.train.data import Normalization, fit_normalization
from metalegnet.train.losses import LossScales, Objective
from metalegnet.train.metrics import MetricSums
from metalegnet.train.schedule import EMA, LRSchedule


def _graphs(n: int, seed: int = 0):
    """``n`` small molecules of 2-4 atoms with random energy and force labels."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        symbols = ("CuO", "Cu2O", "CuO2H")[k % 3]
        atoms = Atoms(symbols)
        atoms.positions = 1.5 * np.arange(len(atoms))[:, None] * [1, 0, 0]
        labels = {"energy": float(rng.normal()), "forces": rng.normal(size=(len(atoms), 3))}
        out.append(atoms_to_graph(atoms, 3.0, labels))
    return out


def test_sharded_loss_times_world_equals_full_batch_loss():
    graphs = _graphs(5)
    obj = Objective("energy", True, LossScales(0.7, 0.3), force_weight=2.0)
    rng = torch.Generator().manual_seed(0)
    preds = [(torch.randn(g.num_graphs, generator=rng), torch.randn(g.num_atoms, 3,
                                                                     generator=rng))
             for g in graphs]

    def loss(idx, n_graphs, n_atoms):
        batch = collate([graphs[i] for i in idx])
        e = torch.cat([preds[i][0] for i in idx])
        f = torch.cat([preds[i][1] for i in idx])
        return obj.loss(obj(e, f, batch), n_graphs, n_atoms)

    full_batch = list(range(5))
    n_atoms = sum(graphs[i].num_atoms for i in full_batch)
    full = loss(full_batch, 5, n_atoms)
    shards = [D.shard(full_batch, r, 2) for r in range(2)]
    assert sorted(shards[0] + shards[1]) == full_batch
    ddp_mean = sum(loss(s, 5, n_atoms) * 2 for s in shards) / 2
    assert float(ddp_mean) == pytest.approx(float(full), rel=1e-6)
    # a per-rank mean (the naive DDP loss) would differ: shards have unequal sizes
    naive = sum(loss(s, len(s), sum(graphs[i].num_atoms for i in s)) for s in shards) / 2
    assert abs(float(naive) - float(full)) > 1e-4


def test_metrics_are_component_means():
    m = MetricSums()
    m.add_graphs(2)
    m.add_energy(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 4.0]))
    m.add_forces(torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([[0.0, 0.0, 3.0]]))
    s = m.summary(with_energy=True, with_forces=True)
    assert s["energy_mae"] == pytest.approx(1.5)
    assert s["energy_rmse"] == pytest.approx(math.sqrt(2.5))
    assert s["force_mae"] == pytest.approx(4.0 / 3.0)
    assert s["n"] == 2 and s["n_force_atoms"] == 1
    back = MetricSums.from_tensor(m.to_tensor())
    assert back == m


def test_schedule_warmup_cosine_and_plateau():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([p], lr=1.0)
    s = LRSchedule(opt, 1.0, total_steps=100, kind="cosine", warmup_fraction=0.1,
                   min_lr_ratio=0.0)
    assert s.lr_at(0) == pytest.approx(0.1)
    assert s.lr_at(9) == pytest.approx(1.0)
    assert s.lr_at(55) == pytest.approx(0.5)
    assert s.lr_at(100) == pytest.approx(0.0, abs=1e-12)
    s.set_step(55)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5)
    plateau = LRSchedule(opt, 1.0, 100, kind="plateau", warmup_fraction=0.0,
                         plateau_factor=0.5, plateau_patience=1)
    for metric in (1.0, 1.0, 1.0):
        plateau.epoch_end(metric)
    assert plateau.lr_at(50) == pytest.approx(0.5)


def test_ema_tracks_weights():
    lin = torch.nn.Linear(2, 1)
    ema = EMA(lin, decay=0.5)
    start = lin.weight.detach().clone()
    with torch.no_grad():
        lin.weight.add_(1.0)
    ema.update(lin)  # d = min(0.5, 2/11)
    d = 2 / 11
    expected = d * start + (1 - d) * lin.weight.detach()
    assert torch.allclose(ema.shadow["weight"], expected)
    other = torch.nn.Linear(2, 1)
    ema.copy_to(other)
    assert torch.allclose(other.weight, expected)


def test_global_batches_are_deterministic_and_cover_the_set():
    a = D.global_batches(10, 3, seed=1, epoch=2)
    assert a == D.global_batches(10, 3, seed=1, epoch=2)
    assert a != D.global_batches(10, 3, seed=1, epoch=3)
    assert sorted(i for b in a for i in b) == list(range(10))
    # a last batch smaller than the world size is dropped
    assert [len(b) for b in D.global_batches(10, 3, 0, 0, world_size=2)] == [3, 3, 3]


def test_normalization_total_and_adsorption():
    eps = {29: -3.5, 8: -7.0, 1: -3.0}
    samples = []
    for formula in ("Cu4O", "Cu3OH", "Cu5", "Cu2O2H", "Cu6H"):
        atoms = Atoms(formula)
        e = sum(eps[z] for z in atoms.numbers)
        samples.append(Sample(atoms, {"energy": e, "e_ads": 0.1 * len(atoms)}))
    cfg = TrainConfig(task="s2e", energy_target="total")
    norm = fit_normalization(samples, cfg)
    for atoms, _ in samples:  # the fit reproduces exact per-element energies
        pred = norm.shift_atom * len(atoms) + norm.references[atoms.numbers].sum()
        assert pred == pytest.approx(sum(eps[z] for z in atoms.numbers), abs=1e-6)
    # an element absent from training counts as the mean atom, not as 0 eV
    assert norm.references[78] == 0.0 and norm.shift_atom < -3.0
    # adsorption energies start from the same composition fit: here e_ads = 0.1 eV per atom
    # is explained exactly, so the mean residual is 0 and sigma falls back to 1
    ads = fit_normalization(samples, TrainConfig(task="s2e", energy_target="adsorption"))
    for atoms, labels in samples:
        pred = (ads.shift_atom * len(atoms) + ads.references[atoms.numbers].sum()
                + ads.shift_graph)
        assert pred == pytest.approx(labels["e_ads"], abs=1e-6)
    assert ads.shift_graph == pytest.approx(0.0, abs=1e-9)
    assert ads.scale == pytest.approx(ads.sigma_energy) == pytest.approx(1.0)
    assert ads.energy_reference == "composition"
    # a validation split the composition fit extrapolates badly on (a much larger cluster
    # whose e_ads stays near the mean) switches adsorption energies to the mean
    big = Sample(Atoms("Cu40O"), {"e_ads": 0.5})
    ads = fit_normalization(samples, TrainConfig(task="s2e", energy_target="adsorption"),
                            [big])
    assert ads.energy_reference == "mean" and ads.references is None
    assert ads.shift_graph == pytest.approx(np.mean([0.1 * len(a) for a, _ in samples]))
    assert Normalization.from_dict(ads.as_dict()).energy_reference == "mean"
    # total energies always use the composition fit
    assert fit_normalization(samples, cfg, [big]).references is not None


def test_config_yaml_round_trip_and_unknown_keys(tmp_path):
    cfg = TrainConfig(task="is2re", model="legnet-vanilla", group_by="metal,adsorbate",
                      model_config={"num_features": 8})
    assert cfg.group_by == ["metal", "adsorbate"]
    assert cfg.energy_label == "relaxed_energy"
    save_config(cfg, tmp_path / "c.yaml")
    assert load_config(tmp_path / "c.yaml") == cfg
    with pytest.raises(ConfigError, match="unknown TrainConfig key"):
        config_from_dict({"task": "s2e", "learning_rate": 1e-3})
    with pytest.raises(ConfigError, match="task"):
        TrainConfig(task="s2x")
    with pytest.raises(ConfigError, match="contradicts"):
        TrainConfig(model="legnet", model_config={"variant": "vanilla"})
    with pytest.raises(ConfigError, match="force_mae"):
        TrainConfig(task="s2e", monitor="force_mae")


def test_shipped_configs_are_valid():
    from pathlib import Path

    from metalegnet.bench.hparams import apply_hparams, load_hparams
    from metalegnet.bench.suites import get_suite

    folder = Path(__file__).resolve().parents[2] / "configs"
    files = sorted(folder.glob("*.yaml"))
    # meta*.yaml are meta-training configs (their own schema, tested in tests/meta)
    train_files = [f for f in files if not f.stem.startswith(("bench_", "meta"))]
    assert {f.stem for f in train_files} >= {"s2e", "s2f", "s2ef", "is2re"}
    for path in train_files:
        cfg = load_config(path)
        assert cfg.task in path.stem or path.stem.startswith(cfg.task)
    # benchmark configs (in the package) hold per-model hyperparameters of a suite
    from metalegnet.bench.hparams import default_path

    bench_files = sorted(default_path("quick").parent.glob("bench_*.yaml"))
    assert {f.stem for f in bench_files} == {"bench_quick", "bench_full", "bench_large"}
    for path in bench_files:
        suite = get_suite(path.stem.removeprefix("bench_"))
        apply_hparams(suite, load_hparams(path))


def test_pose_variants_join_the_training_split_only():
    from metalegnet.testing.structures import slab_with_adsorbate
    from metalegnet.train.data import prepare_data

    frames = []
    for k in range(10):
        atoms = slab_with_adsorbate(seed=k)
        atoms.info.update(sid=f"s{k}", e_ads=-0.1 * k)
        frames.append(atoms)
    base = TrainConfig(data="ads.extxyz", task="s2e", energy_target="adsorption",
                       split_fractions=[0.6, 0.2, 0.2])
    plain = prepare_data(base, frames)
    aug = prepare_data(dataclasses.replace(base, pose_variants=2), frames)
    train = plain.split.indices("train")
    assert aug.split.indices("val") == plain.split.indices("val")
    assert aug.split.indices("test") == plain.split.indices("test")
    extra = aug.split.indices("train")[len(train):]
    assert aug.split.indices("train")[:len(train)] == train
    assert len(extra) == 2 * len(train) and extra == list(range(10, 10 + len(extra)))
    for j, i in enumerate(extra):  # in order: copies of each training structure in turn
        src = aug.samples[train[j // 2]]
        v = aug.samples[i]
        assert v.labels == src.labels and v.atoms.info["sid"] == src.atoms.info["sid"]
        ads = v.atoms.get_tags() == 2
        shift = v.atoms.positions[ads] - src.atoms.positions[ads]
        assert np.allclose(shift, shift[0]) and np.linalg.norm(shift[0]) > 0  # rigid move
    assert aug.warnings == []
    for atoms in frames:  # no adsorbate tagged: no variants, and the run's log says so
        atoms.set_tags(np.zeros(len(atoms), dtype=int))
    untagged = prepare_data(dataclasses.replace(base, pose_variants=2), frames)
    assert len(untagged.samples) == 10
    assert "0 variants of 6 training structures" in untagged.warnings[-1]
    with pytest.raises(ConfigError, match="pose_variants needs task s2e"):
        TrainConfig(task="s2ef", pose_variants=1)

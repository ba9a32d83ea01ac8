"""A LegNet that learns: after a short run on a small real set (c3-cu111, 8 epochs, F=16) the
readout gate stays open and the predictions spread like the targets.

On the old gate gamma = sigmoid(MLP_g(s)) the mean gate fell to ~0.01 within an epoch and the
model predicted its energy reference: the part it adds to the reference spread over
0.0003-0.004 eV across test structures where target minus reference spreads over 0.53 eV
(``benchmarks/results/learning_check_before.md``). Here we ask for at least a quarter of that
residual spread on the training split (measured: 0.44 of it at this budget, both
models still improving), and, as the issue words it, a total prediction spread of at least
half the target spread."""

from __future__ import annotations

import numpy as np
import torch

from metalegnet.data import load
from metalegnet.data.graph import collate
from metalegnet.train.config import config_from_dict
from metalegnet.train.trainer import Trainer


def test_gate_stays_open_and_predictions_spread(tmp_path):
    torch.manual_seed(0)
    structures = load("c3-cu111")
    cfg = config_from_dict({
        "data": "c3-cu111", "task": "s2e", "energy_target": "adsorption",
        "energy_key": "eads_real", "group_by": ["formula"], "model": "legnet",
        "model_config": {"num_features": 16, "num_blocks": 2, "num_radial": 8,
                         "voxel_sizes": [5.0, 10.0]},
        "cutoff": 5.0, "epochs": 8, "batch_size": 8, "lr": 5e-3, "seed": 0,
        "num_threads": 1, "progress": False, "ema_decay": 0.0,
        "checkpoint_interval_s": 1e9, "energy_loss": "mae"})
    trainer = Trainer(cfg, tmp_path / "run", structures=structures, log=lambda *_: None)
    trainer.fit()
    model_ = trainer.model.eval()
    data = trainer.train_set
    graph = collate([data[i] for i in range(len(data))])
    with torch.no_grad():
        out = model_(graph, compute_forces=False)
    gate = float(out.gate.mean())
    assert 0.1 < gate < 0.9, gate
    ref = model_.normalization.reference(graph.z, graph.batch, graph.natoms)
    learned = (out.energy - ref).double().numpy()
    residual = (graph.labels[cfg.energy_label] - ref).double().numpy()
    assert np.std(learned) > 0.25 * np.std(residual), (np.std(learned), np.std(residual))
    target = graph.labels[cfg.energy_label].double().numpy()
    assert np.std(out.energy.double().numpy()) > 0.5 * np.std(target)

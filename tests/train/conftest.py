"""Shared fixtures: a tiny real OC20 subset and a tiny LegNet training config."""

from __future__ import annotations

import pytest
import torch

#: 5 small OC20 trajectories (17-57 atoms); 4 frames each, first and last included
TINY_SIDS = ("random1447590", "random1000156", "random1000194", "random1000100",
             "random1000120")


@pytest.fixture(autouse=True)
def _one_thread():
    """Small graphs: one thread is fastest, and threads fighting over shared cores are slow."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_oc20(tmp_path_factory):
    """Path of an extxyz file with 20 real OC20 frames (total energy, forces, sid, fid)."""
    from metalegnet.data import load, write_extxyz_atomic

    frames = load("oc20-mini")
    out = []
    for sid in TINY_SIDS:
        traj = [a for a in frames if a.info["sid"] == sid]
        n = len(traj)
        out += [traj[i] for i in sorted({0, n // 3, 2 * n // 3, n - 1})]
    path = tmp_path_factory.mktemp("data") / "tiny_oc20.extxyz"
    write_extxyz_atomic(path, out)
    return path


@pytest.fixture
def tiny_config(tiny_oc20):
    """Keyword arguments of a TrainConfig that trains in about a second."""
    return dict(data=str(tiny_oc20), task="s2ef", epochs=2, batch_size=4, cutoff=4.0,
                split_fractions=[0.6, 0.2, 0.2], lr=2e-3, num_threads=1, progress=False,
                model_config=dict(num_features=16, num_blocks=1, voxel_sizes=[5.0]))

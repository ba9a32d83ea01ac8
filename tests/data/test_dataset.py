"""GraphDataset builds graphs lazily; make_loader batches them reproducibly."""

from __future__ import annotations

import torch

from metalegnet.data import GraphDataset, convert, labels_for_task, load, make_loader


def test_dataset_over_samples_builds_labelled_graphs():
    frames = load("oc22-mini")[:4]
    ds = GraphDataset(labels_for_task(frames, "s2ef"), cutoff=5.0)
    assert len(ds) == 4
    g = ds[1]
    assert g.num_atoms == len(frames[1])
    assert g.labels["energy"].item() == torch.tensor(frames[1].get_potential_energy()).float()
    assert g.labels["forces"].shape == (len(frames[1]), 3)
    assert g.edge_index.shape[1] > 0


def test_loader_batches_and_shuffles_reproducibly():
    samples = labels_for_task(load("c3-cu111")[:6], "s2e", energy_target="adsorption")
    ds = GraphDataset(samples, cutoff=4.0)

    def order(seed):
        return [b.labels["e_ads"].tolist() for b in make_loader(ds, 2, shuffle=True, seed=seed)]

    batches = order(0)
    assert len(batches) == 3 and all(len(b) == 2 for b in batches)
    assert batches == order(0)
    assert sorted(sum(batches, [])) == sorted(sum(order(1), []))
    batch = next(iter(make_loader(ds, 3)))
    assert batch.num_graphs == 3 and batch.num_atoms == sum(len(s.atoms) for s in samples[:3])


def test_lmdb_dataset_streams_in_a_worker_process(tmp_path):
    dst = tmp_path / "oc22.lmdb"
    convert("oc22-mini", dst)
    ds = GraphDataset(dst, cutoff=4.0, task="s2ef", indices=[0, 5, 9])
    assert len(ds) == 3
    loader = make_loader(ds, batch_size=3, num_workers=1)
    (batch,) = list(loader)
    expected = [load("oc22-mini")[i].get_potential_energy() for i in (0, 5, 9)]
    torch.testing.assert_close(batch.labels["energy"],
                               torch.tensor(expected, dtype=torch.float32))

"""``metalegnet bench fewshot`` pipeline on a tiny generated setting: same draws for every
method, the results format of the issue, resumability."""

from __future__ import annotations

import json

import pytest
import torch

from metalegnet.bench.fewshot import FewShotRun
from metalegnet.bench.fewshot_run import run_fewshot
from metalegnet.bench.fewshot_settings import Setting
from metalegnet.cli import main
from metalegnet.errors import ConfigError

from .conftest import emt_slab


def _structures():
    out = []
    for metal, n in (("Cu", 5), ("Pt", 5), ("Au", 14)):
        for seed in range(n):
            a = emt_slab(metal, "CO", seed)
            a.info["e_ads"] = a.get_potential_energy() / len(a)
            out.append(a)
    return out


def test_fewshot_pipeline_writes_rows_and_resumes(tmp_path):
    setting = Setting("emt", (), ("surface",), {"Au(111) CO": {"surface": ["Au"]}},
                      loader=_structures)
    run = FewShotRun(out=tmp_path, ks=[1, 3, 10], draws=2, pretrain_epochs=1, meta_steps=2,
                     model_config={"num_features": 8, "num_blocks": 1}, cutoff=4.0,
                     command="test")
    run_fewshot(run, [setting], log=lambda *_: None)
    results = json.loads((tmp_path / "results.json").read_text())
    rows = {(r["target"], r["k"]): r for r in results["rows"]}
    assert set(rows) == {("Au(111) CO", 1), ("Au(111) CO", 3)}  # k=10 leaves < 10 queries
    models = rows[("Au(111) CO", 3)]["models"]
    for name in ("meta-legnet", "zero-shot-legnet", "fine-tuned-legnet", "ridge",
                 "scratch-legnet", "meta-legnet-head", "legnet+head"):
        assert models[name]["n_draws"] == 2 and models[name]["mae_mean"] >= 0
    assert results["cost"]["emt"]["meta_train_s"] > 0
    assert results["cost"]["emt"]["head_meta_train_s"] > 0
    assert (tmp_path / "runs" / "emt" / "meta_head" / "checkpoint.pt").exists()
    assert sum(rows[("Au(111) CO", 3)]["meta_legnet_head_choices"].values()) == 2
    assert "k=10 skipped" in " ".join(results["notes"])
    assert "| Au(111) CO | 3 |" in (tmp_path / "results.md").read_text()
    # k = 1: meta-training kept its pretraining's error on the held-out source task (the
    # split is by surface), and adaptation shifts by the shrunk support residual
    from metalegnet.checkpoint import load_checkpoint

    _, pre = load_checkpoint(tmp_path / "runs" / "emt" / "pretrain" / "checkpoint.pt")
    _, meta = load_checkpoint(tmp_path / "runs" / "emt" / "meta" / "checkpoint.pt")
    assert meta["metadata"]["meta"]["k1_noise_rmse"] == pre["metadata"]["val"]["energy_rmse"]
    k1 = [json.loads(line) for line in (tmp_path / "partial.jsonl").read_text().splitlines()]
    k1 = [r for r in k1 if r["k"] == 1 and r["method"] in ("meta-legnet", "legnet+adapt")]
    assert len(k1) == 4 and all(r["choice"] == "shrunk-shift" for r in k1)
    n_lines = len((tmp_path / "partial.jsonl").read_text().splitlines())
    run_fewshot(run, [setting], log=lambda *_: None)  # resumed: nothing recomputed
    assert len((tmp_path / "partial.jsonl").read_text().splitlines()) == n_lines


def test_meta_baseline_is_pretrained_meta_trained_and_scored_on_the_same_draws(
        tmp_path, monkeypatch):
    import pytest

    from metalegnet.bench import fewshot_methods

    pytest.importorskip("torch_geometric")
    monkeypatch.setitem(fewshot_methods.META_BASELINES, "schnet", {
        "lr": 0.01, "model_config": {"hidden_channels": 8, "num_filters": 8,
                                     "num_interactions": 1, "num_gaussians": 8}})
    setting = Setting("emt", (), ("surface",), {"Au(111) CO": {"surface": ["Au"]}},
                      loader=_structures)
    run = FewShotRun(out=tmp_path, ks=[3], draws=2, pretrain_epochs=1, meta_steps=2,
                     model_config={"num_features": 8, "num_blocks": 1}, cutoff=4.0,
                     methods=["meta-legnet", "meta-schnet"], meta_baselines=["schnet"],
                     command="test")
    run_fewshot(run, [setting], log=lambda *_: None)
    assert (tmp_path / "runs" / "emt" / "schnet" / "meta" / "checkpoint.pt").exists()
    records = [json.loads(line) for line in
               (tmp_path / "partial.jsonl").read_text().splitlines()]
    by_method = {}
    for r in records:
        by_method.setdefault(r["method"], []).append(r)
    assert sorted(by_method) == ["meta-legnet", "meta-schnet"]
    assert [r["n_query"] for r in by_method["meta-schnet"]] == \
        [r["n_query"] for r in by_method["meta-legnet"]]
    assert all(r["mae"] >= 0 and "choice" in r for r in by_method["meta-schnet"])
    # different models, so different query errors on the same draws
    assert [r["mae"] for r in by_method["meta-schnet"]] != \
        [r["mae"] for r in by_method["meta-legnet"]]
    cost = json.loads((tmp_path / "results.json").read_text())["cost"]["emt"]
    assert cost["schnet_meta_train_s"] > 0


def test_fewshot_cli_refuses_bad_flags(tmp_path, capsys):
    assert main(["bench", "fewshot", "--out", str(tmp_path), "--settings", "nope"]) == 2
    assert main(["bench", "fewshot", "--out", str(tmp_path), "--ks", "1,x"]) == 2
    assert main(["bench", "fewshot", "--out", str(tmp_path), "--meta-baselines", "nope"]) == 2
    assert main(["bench", "fewshot", "--out", str(tmp_path), "--methods", "meta-schnet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(e.startswith("metalegnet: error:") for e in err)


def test_trivial_references_and_shift_on_known_targets():
    import numpy as np

    from metalegnet.bench.fewshot_methods import METHODS, FewShotModels, energies, score
    from metalegnet.data.labels import Sample

    structures = _structures()[:6]
    y = np.array([-1.0, -2.0, -1.5, -3.0, -2.5, -0.5])
    samples = [Sample(a, {"e_ads": v}) for a, v in zip(structures, y)]
    support, query = samples[:4], samples[4:]
    mean = METHODS["support-mean"](None, support, query, 0)[0]
    assert np.allclose(mean, y[:4].mean())

    class Constant(torch.nn.Module):  # a "pretrained model" predicting E = 1 eV always
        cutoff = 4.0

        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))

        def forward(self, g, compute_forces=False):
            return type("Out", (), {"energy": self.w + torch.ones(g.num_graphs,
                                                                  dtype=torch.float64)})

    m = FewShotModels(Constant(), None, 0.01, 1, 1.0)
    shifted = METHODS["zero-shot+shift"](m, support, query, 0)[0]
    assert np.allclose(shifted, y[:4].mean())  # 1 eV + mean(y - 1 eV)
    model = METHODS["zero-shot-legnet"](m, support, query, 0)[0]
    assert model is m.pretrained and np.allclose(energies(model, query), 1.0)
    assert score(model, query) == pytest.approx(np.mean(np.abs(1.0 - y[4:])))
    comp = METHODS["composition-ridge"](None, support, query, 0)[0]
    assert comp.shape == (2,) and np.isfinite(comp).all()
    one = METHODS["composition-ridge"](None, support[:1], query, 0)[0]
    assert np.allclose(one, y[0])


def test_s2f_setting_scores_forces_of_the_adapted_models(tmp_path):
    """An s2f setting: pretraining on energies and forces, only methods that give forces,
    the zero-force reference scored exactly, and force MAEs in eV/Å."""
    import numpy as np

    from metalegnet.bench.fewshot_methods import forces_mae
    from metalegnet.data.labels import labels_for_task

    setting = Setting("emt-f", (), ("surface",), {"Au(111) CO": {"surface": ["Au"]}},
                      loader=_structures, task="s2f")
    run = FewShotRun(out=tmp_path, ks=[3], draws=2, pretrain_epochs=1, meta_steps=2,
                     model_config={"num_features": 8, "num_blocks": 1}, cutoff=4.0,
                     command="test")
    run_fewshot(run, [setting], log=lambda *_: None)
    results = json.loads((tmp_path / "results.json").read_text())
    (row,) = results["rows"]
    assert row["task"] == "s2f"
    assert "ridge" not in row["models"] and "support-mean" not in row["models"]
    for name in ("meta-legnet", "meta-legnet-head", "fine-tuned-legnet", "zero-shot-legnet",
                 "zero-forces"):
        assert row["models"][name]["n_draws"] == 2
    # zero forces: the mean |F| component of the free atoms of the query frames
    au = labels_for_task([a for a in _structures() if a.info["surface"] == "Au"], "s2ef",
                         "adsorption", "e_ads")
    free = [np.abs(s.atoms.get_forces()[s.atoms.get_tags() > 0]) for s in au]
    assert 0 < row["models"]["zero-forces"]["mae_mean"] < 2 * np.mean(np.concatenate(free))
    assert forces_mae(None, au) == pytest.approx(np.mean(np.concatenate(free)), rel=1e-6)
    assert "S2F" in (tmp_path / "results.md").read_text()


def _embedded_setting(name: str, task: str):
    """The embedded setting ``name`` (asserting its task), its source and target tasks."""
    from metalegnet.bench.fewshot_run import split_tasks
    from metalegnet.bench.fewshot_settings import SETTINGS
    from metalegnet.data.labels import labels_for_task

    setting = SETTINGS[name]
    assert setting.task == task
    assert setting.train_task == {"s2f": "s2ef", "s2e": "s2e", "is2re": "s2e"}[task]
    samples = labels_for_task([a for a in setting.structures() if "e_ads" in a.info],
                              setting.train_task, "adsorption", "e_ads")
    return (setting, *split_tasks(setting, samples))


def test_fewshot_3d_ml_setting_targets_an_adsorbate_no_source_task_has():
    _, source, targets = _embedded_setting("fewshot-3d-ml", "s2f")
    assert sorted(targets) == ["CHOHCH2OH on AuNi L1_0 fcc(211)", "CHOHCH2OH on Cu fcc(100)"]
    for tasks in targets.values():
        assert sum(len(t) for t in tasks) >= 30
        assert {s.atoms.info["adsorbate"] for t in tasks for s in t.samples} == {"CHOHCH2OH"}
    assert "CHOHCH2OH" not in {s.atoms.info["adsorbate"] for t in source for s in t.samples}
    assert len(source) == 12


def _trajectories():
    """Two-frame 'relaxations': frame 0 a jittered slab, frame 1 another jitter of it whose
    e_ads differs; the IS2RE label of a trajectory is its last frame's e_ads."""
    out = []
    for traj in _structures():
        last = emt_slab(traj.info["surface"], "CO", 1000 + len(out))
        last.info.update(sid=traj.info["sid"], e_ads=traj.info["e_ads"] - 0.5 - 0.01 * len(out))
        traj.info.update(fid=0, nframes=2)
        last.info.update(fid=1, nframes=2)
        out += [traj, last]
    return out


def test_paired_is2re_labels_each_initial_frame_with_its_relaxed_energy():
    from metalegnet.bench.fewshot_settings import paired_is2re
    from metalegnet.errors import DataError

    frames = _trajectories()
    pairs = paired_is2re(frames)
    assert len(pairs) == len(frames) // 2
    for pair, first, last in zip(pairs, frames[::2], frames[1::2], strict=True):
        assert pair.info["sid"] == first.info["sid"]
        assert pair.positions == pytest.approx(first.positions)  # the initial structure
        assert pair.info["e_ads"] == pytest.approx(last.info["e_ads"])
        assert pair.info["e_ads_initial"] == pytest.approx(first.info["e_ads"])
        assert pair.calc is None  # no initial-frame energy or forces left to learn from
    del frames[1].info["e_ads"]  # an unconverged relaxation: left out, like drop_unlabelled
    assert [a.info["sid"] for a in paired_is2re(frames)] == [a.info["sid"]
                                                             for a in frames[2::2]]
    for last in frames[1::2]:
        last.info.pop("e_ads", None)
    with pytest.raises(DataError, match="relaxed"):
        paired_is2re(frames)
    with pytest.raises(ConfigError, match="task"):
        Setting("bad", (), ("surface",), {}, task="s2x")


def test_is2re_setting_scores_relaxed_energies_with_every_energy_method(tmp_path):
    setting = Setting("emt-is", (), ("surface",), {"Au(111) CO": {"surface": ["Au"]}},
                      loader=_trajectories, task="is2re")
    assert setting.train_task == "s2e"
    run = FewShotRun(out=tmp_path, ks=[3], draws=2, pretrain_epochs=1, meta_steps=2,
                     model_config={"num_features": 8, "num_blocks": 1}, cutoff=4.0,
                     command="test", methods=["support-mean", "zero-shot-legnet",
                                              "meta-legnet-head", "ridge"])
    run_fewshot(run, [setting], log=lambda *_: None)
    (row,) = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert row["task"] == "is2re" and row["n_query"] == 14 - 3
    assert set(row["models"]) == {"support-mean", "zero-shot-legnet", "meta-legnet-head",
                                  "ridge"}
    # relaxed labels: the Au targets are their initial e_ads - 0.5 - 0.01 i, and the support
    # mean of 3 of them misses the others by at most their spread
    relaxed = [a.info["e_ads"] for a in setting.structures() if a.info["surface"] == "Au"]
    assert row["models"]["support-mean"]["mae_mean"] <= max(relaxed) - min(relaxed)
    assert "IS2RE" in (tmp_path / "results.md").read_text()


def test_fewshot_0d_ml_setting_targets_trimetallic_clusters_no_source_task_has():
    _, source, targets = _embedded_setting("fewshot-0d-ml", "s2f")
    assert sorted(targets) == ["CH2CO on NiCuPt oct38", "CH2CO on NiPtAu dec19"]
    target_metals = set()
    for tasks in targets.values():
        assert sum(len(t) for t in tasks) >= 30
        atoms = [s.atoms for t in tasks for s in t.samples]
        assert {a.info["adsorbate"] for a in atoms} == {"CH2CO"}
        metals = {m for a in atoms for m in a.get_chemical_symbols()} - {"C", "H", "O"}
        assert len(metals) == 3  # trimetallic
        target_metals |= metals
    source_atoms = [s.atoms for t in source for s in t.samples]
    assert all(len(set(a.get_chemical_symbols()) - {"C", "H", "O", "N"}) <= 2
               for a in source_atoms)  # no trimetallic source cluster
    assert target_metals <= {m for a in source_atoms for m in a.get_chemical_symbols()}
    assert len(source) == 12


def test_fewshot_2d_ml_setting_pairs_relaxations_and_holds_out_oh():
    setting, source, targets = _embedded_setting("fewshot-2d-ml", "is2re")
    structures = setting.structures()
    assert len({a.info["sid"] for a in structures}) == len(structures)  # one per relaxation
    (target,) = targets["OH on 2D sheets"]
    assert len(target) >= 30
    assert len({s.atoms.info["system_id"] for s in target.samples}) == 4
    assert all(s.atoms.info["fid"] == 0 for s in target.samples)  # initial structures
    assert "OH" not in {s.atoms.info["adsorbate"] for t in source for s in t.samples}

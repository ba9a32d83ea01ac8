"""Suites, hyperparameter files, data sources and learning-rate choice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from metalegnet.bench.datasets import resolve
from metalegnet.bench.hparams import apply_hparams, default_path, load_hparams, save_hparams
from metalegnet.bench.jobs import JobResult
from metalegnet.bench.suites import FULL, LARGE, QUICK, get_suite
from metalegnet.bench.tune import choose
from metalegnet.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def test_suites_have_the_issue_rows():
    quick = {r.key for r in QUICK.rows}
    assert {"oc20-mini:s2e", "oc20-mini:s2f", "oc20-mini:is2re", "c3-cu111:s2e",
            "c3-cu111:s2f", "xu-kitchin:s2e", "pdn-ceria:s2e"} <= quick
    assert {f"bench-{d}:{t}" for d in ("0d", "3d") for t in ("s2e", "s2f", "is2re")} <= quick
    full = {r.key for r in FULL.rows}
    assert quick < full and "bench-oxide:is2re" in full and "bench-2d:s2f" in full
    for row in FULL.rows:
        assert row.unit == ("eV/Å" if row.task == "s2f" else "eV")
        assert row.metric == ("force_mae" if row.task == "s2f" else "energy_mae")
    assert {"gamenet-fg:s2e", "gamenet-fg:s2e:random", "wwl-simple:s2e",
            "wwl-gpr:s2e:alloys"} <= full
    apart = {r.key for r in FULL.rows if not r.ranking}
    assert apart == {"oc20-mini:s2e", "oc20-mini:is2re", "c3-cu111:s2f"}
    assert all(FULL.row(k).why_not_ranking for k in apart)
    assert {r.patience for r in FULL.rows} == {6}  # early stopping, the same on every row
    alloys = FULL.row("wwl-gpr:s2e:alloys").train_settings()
    assert alloys["test_where"] == {"surface": ["CuCo", "PdRh"]}
    assert FULL.select(["gamenet-fg"]).rows == (FULL.row("gamenet-fg:s2e"),
                                                FULL.row("gamenet-fg:s2e:random"))
    assert "dimenet++" in QUICK.skipped and "dimenet++" not in {m.name for m in QUICK.models}
    assert "dimenet++" in {m.name for m in FULL.models} and QUICK.seeds < FULL.seeds


def test_select_and_epochs():
    s = QUICK.select(["pdn-ceria", "bench-0d:s2f"], ["legnet", "schnet"])
    assert [r.key for r in s.rows] == ["pdn-ceria:s2e", "bench-0d:s2f"]
    assert [m.name for m in s.models] == ["legnet", "schnet"]
    assert {r.epochs for r in s.with_epochs(3).rows} == {3}
    with pytest.raises(ConfigError, match="unknown row"):
        QUICK.select(["nope:s2e"])
    with pytest.raises(ConfigError, match="no model"):
        QUICK.select(models=["dimenet++"])
    with pytest.raises(ConfigError):
        get_suite("medium")


def test_hparams_round_trip_and_committed_files(tmp_path):
    path = save_hparams(QUICK, tmp_path / "h.yaml", {"method": "test"})
    assert apply_hparams(QUICK, load_hparams(path)) == QUICK
    for suite in (QUICK, FULL, LARGE):  # the committed records apply to their suites
        data = load_hparams(default_path(suite.name))
        assert default_path(suite.name).is_file()
        tuned = apply_hparams(suite, data)
        assert [m.name for m in tuned.models] == [m.name for m in suite.models]
    with pytest.raises(ConfigError, match="suite 'full'"):
        apply_hparams(QUICK, {"suite": "full"})
    with pytest.raises(ConfigError, match="not in suite"):
        apply_hparams(QUICK, {"models": {"gemnet-xl": {"lr": 1.0}}})
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: {legnet: {learning_rate: 1}}\n")
    with pytest.raises(ConfigError, match="unknown key"):
        load_hparams(bad)
    spec = apply_hparams(QUICK, {"models": {"schnet": {"lr": 0.1}}}).model("schnet")
    assert spec.lr == 0.1 and spec.model_config == QUICK.model("schnet").model_config


def test_data_sources(tmp_path):
    assert resolve("pdn-ceria", tmp_path).source == "pdn-ceria"
    missing = resolve("bench-0d", tmp_path, make_missing=False)
    assert not missing.available and "not generated" in missing.note
    # bench-2d needs an ML oracle: never generated on the fly
    assert not resolve("bench-2d", tmp_path, make_missing=True, log=pytest.fail).available
    folder = tmp_path / "bench-oxide"
    folder.mkdir()
    manifest = {"status": "incomplete", "oracle": {"name": "sevennet"},
                "counts": {"trajectories": 8, "frames": 500}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    part = resolve("bench-oxide", tmp_path)
    assert part.source == str(folder) and "partly generated" in part.note
    manifest["status"] = "complete"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert "sevennet" in resolve("bench-oxide", tmp_path).note


def test_choose_lowest_validation_mae():
    res = [JobResult("r", "m", 0, val_mae=0.3, test_mae=0.0, tag=repr(1e-3)),
           JobResult("r", "m", 0, val_mae=0.2, test_mae=9.0, tag=repr(1e-2)),
           JobResult("r", "m", 0, error="diverged", tag=repr(1e-1))]
    lr, scores = choose(res, [1e-3, 1e-2, 1e-1, 1.0])
    assert lr == 1e-2  # validation decides, test is never looked at
    assert scores == {"0.001": 0.3, "0.01": 0.2, "0.1": "diverged", "1.0": "no result"}
    assert choose([], [1e-3]) == (None, {"0.001": "no result"})


def test_missing_emt_recipe_is_generated(tmp_path, monkeypatch):
    from metalegnet.data.generate import runner
    from metalegnet.data.generate.recipes import get_recipe

    calls = []

    def fake_generate(cfg, progress=True):
        calls.append(cfg)
        out = Path(cfg.out)
        out.mkdir(parents=True)
        (out / "manifest.json").write_text(json.dumps(
            {"status": "complete", "oracle": {"name": "emt"},
             "counts": {"trajectories": 240, "frames": 9000}}))

    monkeypatch.setattr(runner, "generate", fake_generate)
    src = resolve("bench-0d", tmp_path, make_missing=True, workers=2, log=lambda *_: None)
    (cfg,) = calls
    assert cfg.oracle == "emt" and cfg.name == "bench-0d" and cfg.workers == 2
    assert cfg.plan == get_recipe("bench-0d").plan("emt")
    assert src.source == str(tmp_path / "bench-0d") and "generated in this run" in src.note
    resolve("bench-0d", tmp_path, log=pytest.fail)  # complete now: not generated again
    assert len(calls) == 1

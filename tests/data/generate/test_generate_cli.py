"""End to end: ``metalegnet data generate`` with EMT, the files it writes, resume and recipes."""

from __future__ import annotations

import json
from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase.constraints import FixAtoms

from metalegnet.cli import main
from metalegnet.data.generate.oracles import load_oracle
from metalegnet.data.generate.plan import make_plan
from metalegnet.data.generate.presets import usable_families
from metalegnet.data.generate.recipes import RECIPES, get_recipe

ARGS = ["--oracle", "emt", "--workers", "1", "--no-progress", "--adsorbates", "O,H",
        "--adsorbates-per-system", "1", "--placements", "2"]


@pytest.fixture(scope="module")
def alloy_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen") / "alloy"
    code = main(["data", "generate", "--preset", "alloy-surface", "--n", "3", "--out", str(out),
                 "--seed", "5", "--metals", "Cu,Pt", *ARGS])
    return out, code


def _files(out: Path) -> list[Path]:
    return sorted(out.glob("*.extxyz"))


def test_files_follow_oc20_conventions(alloy_run):
    out, code = alloy_run
    assert code == 0
    files = _files(out)
    assert len(files) == 3
    sids = set()
    for path in files:
        frames = ase.io.read(path, ":")
        first = frames[0]
        sid = first.info["sid"]
        assert isinstance(sid, str) and path.stem == sid and sid not in sids
        sids.add(sid)
        assert [f.info["fid"] for f in frames] == list(range(len(frames)))
        assert all(f.info["nframes"] == len(frames) for f in frames)
        tags = first.get_tags()
        assert set(np.unique(tags)) == {0, 1, 2}
        fixed = [c for c in first.constraints if isinstance(c, FixAtoms)]
        assert sorted(fixed[0].index) == list(np.flatnonzero(tags == 0))
        info = first.info
        assert info["system_kind"] == "3d" and info["oracle"] == "emt"
        assert info["adsorbate"] in {"O", "H"} and info["surface"].endswith(")")
        assert info["site"] in {"top", "bridge", "fcc", "hcp", "hollow-4"}
        assert info["placement"] == "heuristic" and len(info["site_position"]) == 3
        assert set(first.get_chemical_symbols()) <= {"Cu", "Pt", "O", "H"}
        energies = [f.get_potential_energy() for f in frames]
        assert np.isfinite(energies).all() and energies[-1] <= energies[0]
        assert frames[-1].get_forces().shape == (len(first), 3)
        # e_ads of each frame = E(frame) - E(slab) - gas references, where the trajectory is
        # valid; the last frame's is the relaxed adsorption energy (the IS2RE target).
        valid = info["converged"] and info["anomalies"] == "none"
        for f, e in zip(frames, energies):
            if valid:
                assert f.info["e_ads"] == pytest.approx(e - info["e_slab"] - info["e_gas_ref"])
            else:
                assert "e_ads" not in f.info


def test_manifest_and_records(alloy_run):
    out, _ = alloy_run
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["oracle"]["name"] == "emt" and manifest["oracle"]["version"]
    assert manifest["seed"] == 5 and manifest["settings"]["relax"]["fmax"] == 0.05
    refs = manifest["references"]
    assert set(refs["molecules"]) == {"H2", "H2O", "CO", "N2"}
    assert refs["elements"]["H"] == pytest.approx(refs["molecules"]["H2"] / 2)
    assert manifest["counts"]["trajectories"] == 3
    assert manifest["counts"]["frames"] == sum(len(ase.io.read(p, ":")) for p in _files(out))
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    assert {r["sid"] for r in records} == {p.stem for p in _files(out)}
    assert manifest["systems"][0]["system_id"] in records[0]["sid"]


def test_project_readers_take_the_output_folder(alloy_run):
    from metalegnet.data.io import read_structures
    from metalegnet.data.labels import labels_for_task

    out, _ = alloy_run
    structures = read_structures(out)  # the folder: manifest.json and records.jsonl skipped
    n_frames = json.loads((out / "manifest.json").read_text())["counts"]["frames"]
    assert len(structures) == n_frames
    valid = [a for a in structures if "e_ads" in a.info]
    assert valid, "no valid trajectory in the test run"
    s2ef = labels_for_task(valid, "s2ef", "adsorption")
    assert all(s.labels["forces"].shape == (len(s.atoms), 3) for s in s2ef)
    is2re = labels_for_task(valid, "is2re", "adsorption")
    sids = {a.info["sid"] for a in valid}
    assert len(is2re) == len(sids)
    for sample in is2re:
        assert sample.atoms.info["fid"] == 0
        last = [a for a in valid if a.info["sid"] == sample.atoms.info["sid"]][-1]
        assert sample.labels["relaxed_e_ads"] == pytest.approx(last.info["e_ads"])


def test_resume_skips_finished_and_regenerates_identically(alloy_run, capsys):
    out, _ = alloy_run
    files = _files(out)
    before = {p.name: p.read_bytes() for p in files}
    files[0].unlink()
    code = main(["data", "generate", "--preset", "alloy-surface", "--n", "3", "--out", str(out),
                 "--seed", "5", "--metals", "Cu,Pt", *ARGS])
    assert code == 0
    assert "2 already done, 1 new" in capsys.readouterr().out
    after = {p.name: p.read_bytes() for p in _files(out)}
    assert after == before  # same seed, same bytes


def test_resume_accepts_a_manifest_from_before_min_cluster_atoms(alloy_run, capsys):
    out, _ = alloy_run
    path = out / "manifest.json"
    manifest = json.loads(path.read_text())
    del manifest["settings"]["plan"]["preset_config"]["min_cluster_atoms"]
    path.write_text(json.dumps(manifest))
    code = main(["data", "generate", "--preset", "alloy-surface", "--n", "3", "--out", str(out),
                 "--seed", "5", "--metals", "Cu,Pt", *ARGS])
    assert code == 0 and "3 already done, 0 new" in capsys.readouterr().out


def test_systems_generates_part_of_the_same_plan(alloy_run, tmp_path, capsys):
    out, _ = alloy_run
    part = tmp_path / "part"
    code = main(["data", "generate", "--preset", "alloy-surface", "--n", "3", "--out",
                 str(part), "--seed", "5", "--metals", "Cu,Pt", "--systems", "1:5", *ARGS])
    assert code == 0
    whole = {p.name: p.read_bytes() for p in _files(out)}
    mine = {p.name: p.read_bytes() for p in _files(part)}
    assert mine and set(mine) < set(whole)  # only system 1's trajectories ...
    assert all("-00001-" in name for name in mine)
    assert all(whole[name] == data for name, data in mine.items())  # ... byte for byte
    manifest = json.loads((part / "manifest.json").read_text())
    assert manifest["settings"]["systems"] == [1, 5]
    assert [s["system_id"][-5:] for s in manifest["systems"]] == ["00001"]
    capsys.readouterr()
    for bad in ("7", "3:1", "a:b"):
        assert main(["data", "generate", "--preset", "alloy-surface", "--n", "3", "--out",
                     str(tmp_path / "bad"), "--systems", bad, *ARGS]) == 2
        assert "--systems" in capsys.readouterr().err
    assert main(["data", "generate", "--preset", "alloy-surface", "--n", "3", "--out",
                 str(tmp_path / "bad"), "--seed", "5", "--metals", "Cu,Pt",
                 "--systems", "9:12", *ARGS]) == 2
    assert "selects none" in capsys.readouterr().err


def test_records_lost_in_an_interrupted_run_are_rebuilt(alloy_run, capsys):
    out, _ = alloy_run
    before = {json.loads(line)["sid"]: json.loads(line)
              for line in (out / "records.jsonl").read_text().splitlines()}
    (out / "records.jsonl").unlink()  # as if stopped after the files but before the records
    code = main(["data", "generate", "--preset", "alloy-surface", "--n", "3", "--out", str(out),
                 "--seed", "5", "--metals", "Cu,Pt", *ARGS])
    assert code == 0 and "3 already done, 0 new" in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["counts"]["trajectories"] == 3
    rebuilt = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    assert len(rebuilt) == 3 and all(r["rebuilt_from_file"] for r in rebuilt)
    for r in rebuilt:
        old = before[r["sid"]]
        assert r["nframes"] == old["nframes"] and r["anomalies"] == old["anomalies"]
        assert r["e_ads_unfiltered"] == pytest.approx(old["e_ads_unfiltered"])


def test_other_settings_in_the_same_out_are_refused(alloy_run, capsys):
    out, _ = alloy_run
    code = main(["data", "generate", "--preset", "alloy-surface", "--n", "3", "--out", str(out),
                 "--seed", "6", "--metals", "Cu,Pt", *ARGS])
    assert code == 2
    assert "holds a different generation" in capsys.readouterr().err


def test_nanocluster_with_two_workers(tmp_path):
    out = tmp_path / "clusters"
    code = main(["data", "generate", "--preset", "nanocluster", "--n", "2", "--out", str(out),
                 "--max-cluster-atoms", "19", "--metals", "Au,Pd", *ARGS[:2], "--workers",
                 "2", *ARGS[4:]])
    assert code == 0
    frames = ase.io.read(_files(out)[0], ":")
    assert frames[0].info["system_kind"] == "0d"
    assert len(frames[0]) <= 19 + 1


@pytest.mark.parametrize("preset,missing", [("2d", "B, C, N, S, Co, Mo, W"),
                                            ("oxide", "O, Ti, Sr, Ru, Ir")])
def test_emt_refuses_presets_it_cannot_label(tmp_path, capsys, preset, missing):
    code = main(["data", "generate", "--preset", preset, "--n", "2", "--oracle", "emt",
                 "--out", str(tmp_path / preset)])
    assert code == 2
    err = capsys.readouterr().err
    assert f"it lacks {missing} as substrate elements" in err
    assert not list((tmp_path / preset).glob("*.extxyz"))


def test_emt_refuses_metals_it_lacks(tmp_path, capsys):
    code = main(["data", "generate", "--preset", "alloy-surface", "--n", "2", "--oracle", "emt",
                 "--metals", "Pt,Fe", "--out", str(tmp_path / "x")])
    assert code == 2 and "lacks Fe" in capsys.readouterr().err


def test_recipe_flags(tmp_path, capsys):
    assert main(["data", "generate", "--recipe", "bench-0d", "--n", "5", "--out",
                 str(tmp_path)]) == 2
    assert "fixed by the recipe" in capsys.readouterr().err
    assert main(["data", "generate", "--recipe", "bench-9d", "--out", str(tmp_path)]) == 2
    assert main(["data", "generate", "--list"]) == 0
    assert "bench-fewshot" in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_recipes_are_deterministic(name):
    recipe = get_recipe(name)
    oracle = load_oracle("emt") if recipe.default_oracle == "emt" else None
    if oracle is None:  # the ML recipes: plan with every element allowed
        from ase.data import chemical_symbols

        substrate = frozenset(chemical_symbols[1:95])
    else:
        substrate = oracle.substrate_elements
    plan = recipe.plan(recipe.default_oracle)
    fams, _ = usable_families(plan.preset, substrate, plan.preset_config)
    a, b = make_plan(plan, fams), make_plan(plan, fams)
    assert a == b
    sids = [t.sid for job in a for t in job.trajectories]
    assert len(sids) == recipe.n == len(set(sids))
    assert all(s.startswith(name + "-") for s in sids)
    tasks = {(job.spec.system_id, t.adsorbate) for job in a for t in job.trajectories}
    assert len(tasks) == len(sids) // recipe.placements_per_adsorbate


def test_a_killed_run_leaves_no_worker_behind(tmp_path):
    """SIGTERM to the main process ends its pool workers too (no orphan keeps writing)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "metalegnet", "data", "generate", "--preset", "alloy-surface",
         "--n", "64", "--out", str(out), "--seed", "5", "--metals", "Cu,Pt", "--oracle", "emt",
         "--workers", "1", "--no-progress", "--adsorbates", "O,H",
         "--adsorbates-per-system", "2", "--placements", "16"],  # long jobs: 32 relaxations
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    children_file = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    if not children_file.exists():
        proc.kill()
        pytest.skip("no /proc children list on this system")
    deadline, workers = time.time() + 60, []
    while time.time() < deadline and not list(out.glob("*.extxyz")):
        time.sleep(0.2)  # until a worker is busy with the trajectories
    workers = [int(p) for p in children_file.read_text().split()]
    assert workers, "the generation started no worker process"
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    deadline = time.time() + 3  # an orphan would finish its 32-relaxation job first
    alive = workers
    while alive and time.time() < deadline:
        time.sleep(0.2)
        alive = [p for p in workers if Path(f"/proc/{p}").exists()
                 and "Z" not in Path(f"/proc/{p}/stat").read_text().split()[2]]
    assert not alive, f"orphan workers still running: {alive}"
    n_files = len(list(out.glob("*.extxyz")))
    time.sleep(1.0)
    assert len(list(out.glob("*.extxyz"))) == n_files  # nothing written after the kill
    assert n_files < 64 and os.path.exists(out / "manifest.json")

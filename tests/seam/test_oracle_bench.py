"""The oracle benchmark with EMT as a stand-in oracle: ground truth, resume, success@k."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest

from metalegnet.errors import ConfigError, DataError
from metalegnet.seam.groundtruth import (
    SYSTEMS,
    TruthConfig,
    ground_truth,
    orientations,
    read_cache,
    relaxed_slab,
    truth_energy,
)
from metalegnet.seam.oracle_bench import (
    OracleBenchConfig,
    first_success,
    leaks,
    results_markdown,
    run_oracle_bench,
    success_at,
)

pytest.importorskip("pymatgen.analysis.adsorption")

from metalegnet.surface.sitefinder import pymatgen_sites  # noqa: E402

SYSTEM = next(s for s in SYSTEMS if s.name == "NiPd-random-111-H")


def _rec(e, anomalies=(), nsteps=10):
    return {"energy": e, "anomalies": list(anomalies), "nsteps": nsteps}


def test_success_is_one_sided_and_anomalies_fail():
    recs = [_rec(-1.0, ["desorbed"]), _rec(-0.5), _rec(-0.95), None]
    assert first_success(recs, truth=-1.0, within=0.1) == (3, 30)
    assert not success_at(recs, -1.0, 0.1, k=2) and success_at(recs, -1.0, 0.1, k=3)
    assert first_success([_rec(-2.0)], -1.0, 0.1) == (1, 10)  # below the truth: success
    assert first_success([None, _rec(0.0)], -1.0, 0.1) == (None, None)


def test_systems_are_held_out_of_the_default_data_and_distinct():
    from metalegnet.data.io import read_structures

    frames = read_structures("xu-kitchin") + read_structures("wwl-simple")
    assert leaks(SYSTEMS, frames) == []
    assert len({s.name for s in SYSTEMS}) == len(SYSTEMS)
    assert {s.adsorbate for s in SYSTEMS} >= {"O", "H", "N", "C", "OH", "CO", "NO", "CH3"}
    assert {s.facet for s in SYSTEMS} == {"111", "100", "211"}
    pd = next(a for a in frames if a.info.get("metal") == "Pd").copy()
    sym = pd.get_chemical_symbols()
    for i in [i for i, x in enumerate(sym) if x == "Pd"][::2]:
        sym[i] = "Ni"
    pd.set_chemical_symbols(sym)
    assert leaks(SYSTEMS, [pd]) == ["NiPd-random-111-H"]


def test_config_checks():
    with pytest.raises(ConfigError, match="unknown system"):
        OracleBenchConfig(systems=("Xx-pure-111-O",))
    with pytest.raises(ConfigError, match="beyond top_k"):
        OracleBenchConfig(top_k=3, ks=(1, 5))
    with pytest.raises(ConfigError):
        TruthConfig(random_placements=-1)
    with pytest.raises(ConfigError, match="augment_copies"):
        OracleBenchConfig(augment_copies=-1)
    assert orientations("O", 30.0) == [(0.0, 0.0)]
    assert len(orientations("CO", 30.0)) == 2


def test_ground_truth_resumes_from_its_cache(tmp_path):
    from ase.calculators.emt import EMT

    cfg = TruthConfig(random_placements=2, max_steps=30)
    recs = ground_truth(SYSTEM, tmp_path, EMT(), cfg, log=lambda s: None)
    assert len(recs) == 1 + 24 + 2  # clean slab, 24 unreduced (111) sites, 2 random
    path = tmp_path / f"{SYSTEM.name}.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-3]) + "\n" + lines[-3][:20])  # killed mid-write
    assert len(read_cache(path)) == len(recs) - 3
    calls = []

    class Counting(EMT):
        def calculate(self, *a, **k):
            calls.append(1)
            super().calculate(*a, **k)

    again = ground_truth(SYSTEM, tmp_path, Counting(), cfg, log=lambda s: None)
    assert set(again) == set(recs) and calls  # the 3 lost relaxations were redone
    assert np.isclose(truth_energy(again), truth_energy(recs))


def test_oracle_bench_end_to_end_with_emt(tmp_path):
    from metalegnet.data.io import read_structures

    frames = [a for a in read_structures("xu-kitchin")
              if a.info["adsorbate"] == "H" and a.info["metal"] in ("Pd", "Cu")][:24]
    cfg = OracleBenchConfig(systems=(SYSTEM.name,), oracle="emt", epochs=1,
                            num_features=8, num_blocks=1, max_train_s=30.0, top_k=3,
                            ks=(1, 3), random_seeds=2,
                            truth=TruthConfig(random_placements=3, max_steps=30))
    result = run_oracle_bench(cfg, tmp_path, log=lambda s: None, frames=frames)
    row = result["rows"][0]
    assert row["system"] == SYSTEM.name and 0.0 <= row["random_hit"] <= 1.0
    m = row["methods"]
    assert m["exhaustive"]["starts"] == 27 and m["exhaustive"]["success@3"] == 1.0
    assert m["seam"]["starts"] == 3 and m["random"]["starts"] == 3
    slab = relaxed_slab(SYSTEM, read_cache(tmp_path / "cache" / f"{SYSTEM.name}.jsonl")["slab"])
    assert m["pymatgen"]["starts"] == len(pymatgen_sites(slab, symm_reduce=True))
    seam_lines = [json.loads(x) for x in (tmp_path / "cache" / f"{SYSTEM.name}.jsonl")
                  .read_text().splitlines() if '"kind": "seam"' in x]
    assert len(seam_lines) == 3
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["summary"]["all"]["systems"] == 1
    text = results_markdown(result, "cmd")
    assert SYSTEM.name in text and "success@3" in text
    again = run_oracle_bench(cfg, tmp_path, log=lambda s: None, frames=frames)  # all cached
    assert again["rows"][0]["methods"] == m
    # the model may train on placed-pose variants too (same ground truth, reused)
    shutil.copytree(tmp_path / "cache", tmp_path / "aug" / "cache")
    run_oracle_bench(dataclasses.replace(cfg, augment_copies=1), tmp_path / "aug",
                     log=lambda s: None, frames=frames)

    def n_train(folder):
        return json.loads((folder / "model" / "metrics.json").read_text())["num_samples"]

    plain, aug = n_train(tmp_path), n_train(tmp_path / "aug")
    assert aug["train"] + aug["val"] == 2 * (plain["train"] + plain["val"])
    leaky = frames[0].copy()  # a Ni-Pd substrate in the data: the system is not held out
    sym = leaky.get_chemical_symbols()
    metal = [i for i, x in enumerate(sym) if x in ("Pd", "Cu")]
    for j, i in enumerate(metal):
        sym[i] = "Ni" if j % 2 else "Pd"
    leaky.set_chemical_symbols(sym)
    with pytest.raises(DataError, match="not held out"):
        run_oracle_bench(cfg, tmp_path / "leak", log=lambda s: None, frames=[leaky] + frames)

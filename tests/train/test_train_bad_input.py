"""Bad input stops ``metalegnet train`` / ``evaluate`` before any work, in one line."""

from __future__ import annotations

import json
import tempfile

import ase.io
import numpy as np
import pytest
import yaml
from ase.calculators.singlepoint import SinglePointCalculator

from metalegnet.cli import main
from metalegnet.errors import ConfigError, DataError
from metalegnet.train.config import TrainConfig, config_from_dict
from metalegnet.train.data import prepare_data
from metalegnet.train.trainer import Trainer

TINY_MODEL = {"num_features": 8, "num_blocks": 1, "voxel_sizes": [5.0]}


def _one_line_error(capsys, argv) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("metalegnet: error: "), captured.err
    return lines[0].removeprefix("metalegnet: error: ")


@pytest.mark.parametrize("text,message", [
    ('lr: "fast"', "TrainConfig.lr='fast': expected float"),
    ("epochs: one", "TrainConfig.epochs='one': expected int"),
    ("batch_size: 2.5", "TrainConfig.batch_size=2.5: expected int"),
    ("progress: 1", "TrainConfig.progress=1: expected bool"),
    ("max_force: .nan", "TrainConfig.max_force=nan: expected finite float or None"),
    ("model_config: {num_features: big}",
     "TrainConfig.model_config: LegNetConfig.num_features='big': expected int"),
])
def test_wrong_config_types_are_one_line(tmp_path, capsys, text, message):
    bad = tmp_path / "bad.yaml"
    bad.write_text(text + "\n")
    out = tmp_path / "run"
    assert _one_line_error(capsys, ["train", "--data", "c3-cu111", "--task", "s2e", "--out",
                                    str(out), "--config", str(bad)]) == message
    assert not out.exists()


def test_nan_learning_rate_flag(tmp_path, capsys):
    assert _one_line_error(capsys, ["train", "--data", "c3-cu111", "--task", "s2e", "--out",
                                    str(tmp_path / "run"), "--lr", "nan"]) == \
        "TrainConfig.lr=nan: expected finite float"


def test_config_checks_at_construction():
    with pytest.raises(ConfigError, match=r"^TrainConfig.lr=inf: expected finite float$"):
        TrainConfig(lr=float("inf"))
    with pytest.raises(ConfigError, match=r"^TrainConfig.epochs=True: expected int$"):
        TrainConfig(epochs=True)
    with pytest.raises(ConfigError, match="max_force must be > 0"):
        TrainConfig(max_force=0.0)
    with pytest.raises(ConfigError, match="split_fractions"):
        TrainConfig(split_fractions=[0.5, 0.5, 0.5])
    cfg = config_from_dict({"lr": 1, "max_energy_per_atom": None})
    assert isinstance(cfg.lr, float) and cfg.max_energy_per_atom is None


def test_exploded_labels_stop_training(tiny_oc20, tmp_path, capsys):
    frames = ase.io.read(tiny_oc20, ":")
    bad = frames[5]
    forces = bad.get_forces()
    forces[2] = [3e8, 0.0, 0.0]
    bad.calc = SinglePointCalculator(bad, energy=-2e7, forces=forces)
    path = tmp_path / "exploded.extxyz"
    ase.io.write(path, frames)
    out = tmp_path / "run"
    message = _one_line_error(capsys, ["train", "--data", str(path), "--task", "s2ef",
                                       "--out", str(out), "--no-progress"])
    assert message.startswith(f"{path} [index 5, sid=random1000156]: label 'forces' is "
                              "3e+08 eV/Å on atom 2, above the physical bound")
    assert not (out / "last.pt").exists()
    # the bounds are settings: raised, the frame is accepted
    cfg = TrainConfig(data=str(path), task="s2e", max_force=1e9, max_energy_per_atom=1e7)
    assert len(prepare_data(cfg).samples) == len(frames)


def _adsorption_frames(tagged: list[bool]):
    from metalegnet.testing.structures import slab_with_adsorbate

    frames = []
    for k, has_tags in enumerate(tagged):
        atoms = slab_with_adsorbate(seed=k)
        if not has_tags:
            atoms.set_tags(np.zeros(len(atoms), dtype=int))
        atoms.info.update(sid=f"s{k}", e_ads=-0.1 * k, source="ads.extxyz", index=k)
        frames.append(atoms)
    return frames


def test_adsorption_target_needs_adsorbate_tags():
    cfg = TrainConfig(data="ads.extxyz", task="s2e", energy_target="adsorption")
    tagged = prepare_data(cfg, _adsorption_frames([True] * 6))
    assert tagged.warnings == []
    with pytest.raises(DataError) as err:  # a mix: structure 4 lost its adsorbate
        prepare_data(cfg, _adsorption_frames([True] * 4 + [False] * 2))
    assert str(err.value) == (
        "ads.extxyz [index 4, sid=s4]: energy_target=adsorption, but this structure has no "
        "adsorbate atoms (tag 2) while 4 of 6 structures have: tag its adsorbate atoms 2 or "
        "leave it out")
    untagged = _adsorption_frames([False] * 6)
    (warning,) = prepare_data(cfg, untagged).warnings
    assert warning.startswith("energy_target=adsorption, but none of the 6 structures tags")
    strict = TrainConfig(data="ads.extxyz", task="s2e", energy_target="adsorption",
                         require_adsorbate_tags=True)
    with pytest.raises(DataError, match="require_adsorbate_tags is set"):
        prepare_data(strict, untagged)
    lines = []
    Trainer(TrainConfig(data="ads.extxyz", task="s2e", energy_target="adsorption",
                        progress=False, model_config=TINY_MODEL), tempfile.mkdtemp(),
            structures=untagged, log=lines.append)
    assert any(line.startswith("warning: energy_target=adsorption") for line in lines)


@pytest.fixture
def trained_run(tiny_oc20, tmp_path):
    out = tmp_path / "run"
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump({"model_config": TINY_MODEL, "cutoff": 4.0,
                                   "split_fractions": [0.6, 0.2, 0.2], "num_threads": 1}))
    assert main(["train", "--data", str(tiny_oc20), "--task", "s2e", "--out", str(out),
                 "--epochs", "1", "--frame-stride", "2", "--no-progress", "--config",
                 str(cfg)]) == 0
    return out


def test_evaluate_on_other_data_refuses_the_runs_split(trained_run, tiny_oc20, tmp_path,
                                                       capsys):
    ckpt = str(trained_run / "checkpoint.pt")
    frames = ase.io.read(tiny_oc20, ":")
    other = tmp_path / "tiny_oc20.extxyz"  # same file name (so the same sids), fewer frames
    other.parent.mkdir(exist_ok=True)
    ase.io.write(other, frames[:-2])
    message = _one_line_error(capsys, ["evaluate", ckpt, "--data", str(other),
                                       "--split", "test"])
    assert message == (
        f"{other}: not the data of the run's split {trained_run / 'splits.json'} "
        "(18 structures where the split was made for 20); evaluate with --split all, or on "
        f"the run's data ({tiny_oc20})")
    assert main(["evaluate", ckpt, "--data", str(other)]) == 0  # --split all is fine
    assert main(["evaluate", ckpt, "--split", "test"]) == 0  # so is the run's data
    # an old splits.json without a fingerprint: the number of samples still tells
    splits = trained_run / "splits.json"
    old = json.loads(splits.read_text())
    del old["fingerprint"]
    splits.write_text(json.dumps(old))
    capsys.readouterr()
    assert "(9 samples where the split was made for 10)" in _one_line_error(
        capsys, ["evaluate", ckpt, "--data", str(other), "--split", "test"])
    assert main(["evaluate", ckpt, "--split", "test"]) == 0


def test_resume_on_changed_data_is_refused(tiny_oc20, tmp_path):
    splits = tmp_path / "splits.json"
    frames = ase.io.read(tiny_oc20, ":")
    cfg = TrainConfig(data=str(tiny_oc20), task="s2e", split_fractions=[0.6, 0.2, 0.2])
    prepare_data(cfg, frames, splits)
    assert json.loads(splits.read_text())["fingerprint"]["num_structures"] == 20
    prepare_data(cfg, frames[::-1], splits)  # the same data in another order
    with pytest.raises(DataError, match="the data changed since"):
        prepare_data(cfg, frames[1:], splits)


def test_missing_splits_file_is_an_error(tiny_oc20, tmp_path):
    cfg = TrainConfig(data=str(tiny_oc20), task="s2e", splits_file=str(tmp_path / "no.json"))
    with pytest.raises(DataError, match="no such split file"):
        prepare_data(cfg)


def test_start_removes_orphans_of_a_killed_checkpoint_write(tiny_oc20, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    fd, orphan = tempfile.mkstemp(dir=out, prefix=".last.pt.", suffix=".tmp")
    with open(fd, "wb") as fh:
        fh.write(b"\0" * 1_000_000)
    lines = []
    Trainer(TrainConfig(data=str(tiny_oc20), task="s2e", split_fractions=[0.6, 0.2, 0.2],
                        progress=False, model_config=TINY_MODEL), out, log=lines.append)
    assert not any(p.name.endswith(".tmp") for p in out.iterdir())
    assert lines[0] == ("removed 1 unfinished file(s) of a killed write: "
                        f"{orphan.rsplit('/', 1)[-1]}")

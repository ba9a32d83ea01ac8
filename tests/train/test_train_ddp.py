"""DDP: ``torchrun --nproc_per_node=2 -m metalegnet train`` (gloo on CPU) trains exactly like
one process on the same global batches."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from metalegnet.train.config import TrainConfig
from metalegnet.train.runlog import read_log
from metalegnet.train.trainer import train


def test_torchrun_two_gloo_ranks_match_one_process(tiny_config, tmp_path):
    # batch 5 over 2 ranks: shards of 3 and 2 structures with different atom counts, so a
    # per-rank mean loss would differ; the global-count loss must not
    kw = tiny_config | {"epochs": 2, "batch_size": 5, "ema_decay": 0.0}
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(kw))
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           "--nproc_per_node=2", "-m", "metalegnet", "train", "--config", str(cfg),
           "--out", str(tmp_path / "ddp")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("test:") == 1  # only rank 0 reports

    single = train(TrainConfig(**kw), tmp_path / "one", log=lambda *_: None)
    rows_ddp = read_log(tmp_path / "ddp" / "log.csv")
    rows_one = read_log(tmp_path / "one" / "log.csv")
    assert len(rows_ddp) == len(rows_one) == 2
    for a, b in zip(rows_ddp, rows_one):
        assert a["step"] == b["step"]
        for key in ("train_loss", "train_energy_mae", "train_force_mae", "val_loss"):
            assert float(a[key]) == pytest.approx(float(b[key]), rel=1e-4), key
    ddp = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    for key in ("energy_mae", "force_mae"):
        assert ddp["test"][key] == pytest.approx(single["test"][key], rel=1e-4)
    assert ddp["test"]["n"] == single["test"]["n"]

"""Run bookkeeping: ``log.csv`` (one row per epoch), the progress bar, ``metrics.json``.

``log.csv`` is rewritten whole from the history kept in ``last.pt``, so a resumed run never
duplicates or loses a row. Columns: epoch, step, lr, time_s, then ``train_*`` and ``val_*``
loss and errors (energy eV, forces eV/Å).
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import time
from pathlib import Path

from metalegnet.config import atomic_write_text

COLUMNS = ("epoch", "step", "lr", "time_s", "train_loss", "train_energy_mae",
           "train_force_mae", "val_loss", "val_energy_mae", "val_force_mae", "val_n")


def history_row(epoch: int, step: int, lr: float, time_s: float, train: dict, val: dict
                ) -> dict:
    row = {"epoch": epoch, "step": step, "lr": lr, "time_s": round(time_s, 2)}
    for prefix, metrics in (("train", train), ("val", val)):
        for key in ("loss", "energy_mae", "force_mae"):
            row[f"{prefix}_{key}"] = metrics.get(key, "")
    row["val_n"] = val.get("n", "")
    return row


def write_log(path: str | os.PathLike, rows: list[dict]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    atomic_write_text(path, buf.getvalue())


def read_log(path: str | os.PathLike) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def write_metrics(path: str | os.PathLike, metrics: dict) -> None:
    atomic_write_text(path, json.dumps(metrics, indent=1) + "\n")


def fmt_seconds(s: float) -> str:
    s = int(max(s, 0))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m:02d}:{sec:02d}"


class Progress:
    """A tqdm bar per epoch with live MAE and the ETA of the whole run."""

    def __init__(self, enabled: bool, total_steps: int) -> None:
        self.enabled = enabled
        self.total_steps = total_steps
        self.bar = None
        self.t0 = time.time()
        self.steps_done_here = 0

    def start_epoch(self, epoch: int, epochs: int, steps: int, initial: int) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        self.bar = tqdm(total=steps, initial=initial, desc=f"epoch {epoch + 1}/{epochs}",
                        unit="step", dynamic_ncols=True, leave=True, file=sys.stderr,
                        mininterval=1.0)

    def step(self, global_step: int, live: dict) -> None:
        self.steps_done_here += 1
        if self.bar is None:
            return
        rate = (time.time() - self.t0) / self.steps_done_here
        post = {k: f"{v:.4g}" for k, v in live.items()}
        post["run_eta"] = fmt_seconds(rate * (self.total_steps - global_step))
        self.bar.set_postfix(post, refresh=False)
        self.bar.update(1)

    def end_epoch(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def out_files(out_dir: Path) -> dict[str, Path]:
    return {name: out_dir / name for name in ("checkpoint.pt", "last.pt", "config.yaml",
                                              "splits.json", "log.csv", "metrics.json")}

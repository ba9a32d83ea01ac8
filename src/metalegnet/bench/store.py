"""Finished benchmark runs, kept as they end, so a killed suite resumes where it stopped.

``DIR/runs.jsonl`` holds one JSON line per finished run: the run's key (row, model, seed),
a hash of its complete training configuration, and its :class:`JobResult`. A run is
skipped on the next start when a line with the same key and configuration exists (a
changed budget, learning rate or model size runs again). Lines are appended and flushed
to disk one at a time; a line cut short by a kill is ignored. Failed runs are not kept:
they run again.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from metalegnet.bench.jobs import Job, JobResult

FILE = "runs.jsonl"


def config_hash(config: dict, drop: tuple[str, ...] = ()) -> str:
    """sha256 of a training configuration without the keys ``drop`` (JSON, sorted keys),
    16 hex digits."""
    kept = {k: v for k, v in config.items() if k not in drop}
    text = json.dumps(kept, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def job_key(job: Job) -> str:
    return f"{job.row}|{job.model}|{job.seed}|{config_hash(job.config)}"


class RunStore:
    """The finished runs of one output folder."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.path = Path(folder) / FILE
        self._done: dict[str, JobResult] = {}
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                try:
                    entry = json.loads(line)
                    self._done[entry["key"]] = JobResult.from_json(entry["result"])
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by a kill

    def get(self, job: Job) -> JobResult | None:
        """The stored result of ``job`` (same key and configuration), else ``None``."""
        return self._done.get(job_key(job))

    def add(self, job: Job, result: JobResult) -> None:
        """Append a successful ``result`` (failures are not stored: they run again)."""
        if result.error is not None:
            return
        key = job_key(job)
        self._done[key] = result
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as fh:
            fh.write(json.dumps({"key": key, "result": result.to_json()}) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def __len__(self) -> int:
        return len(self._done)

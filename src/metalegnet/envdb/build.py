"""Build (or resume) an environment database from a model and structures.

1. Frames: the last frame of every trajectory (``sid``) by default, or all frames; a frame
   is turned into the surface frame (:func:`~metalegnet.surface.detect.surface_frame`:
   in-plane cell vectors horizontal, adsorbate on the +z face); OC20 tags
   are guessed where missing (:func:`~metalegnet.surface.detect.with_oc20_tags`); frames
   without adsorbate or substrate, and frames already in the database (content key), are
   skipped.
2. In chunks of ``chunk`` structures: explain (:func:`metalegnet.explain.explain_structures`),
   score (:mod:`metalegnet.envdb.quality`), extract entries (:mod:`metalegnet.envdb.extract`)
   and write them in one transaction with deduplication (:class:`~metalegnet.envdb.store.EnvDB`).
   A killed build loses at most the chunk in flight; a rerun resumes.
3. The site prior of every frame (:mod:`metalegnet.envdb.site_prior`), stored in the
   database's metadata (``site_prior``) for SEAM.
4. Families over all rows (:mod:`metalegnet.envdb.families`), written in one transaction, and
   the FAISS index rebuilt beside the database (:mod:`metalegnet.envdb.index`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from ase import Atoms

from metalegnet.config import check_fields
from metalegnet.envdb.extract import MAX_RADIUS, extract_entry, select_frames, structure_key
from metalegnet.envdb.families import assign_families
from metalegnet.envdb.index import build_index, index_path, save_index
from metalegnet.envdb.quality import QualityConfig, quality_scores
from metalegnet.envdb.site_prior import fit_site_prior
from metalegnet.envdb.store import DEDUP_RMSD, EnvDB
from metalegnet.errors import ConfigError
from metalegnet.surface.detect import surface_frame, with_oc20_tags


@dataclass(frozen=True)
class EnvdbConfig:
    """Build settings.

    Attributes:
        frames: ``last`` (relaxed frame of each trajectory) or ``all``.
        chunk: structures per transaction.
        batch_size: structures per model forward pass.
        max_radius: catalyst atoms of a template are within this of the adsorbate (Å).
        dedup_rmsd: merge environments that register within this RMSD (Å); 0 keeps all.
        n_families: number of families (None: ``round(sqrt(n/2))``).
        quality: :class:`QualityConfig`.
    """

    frames: str = "last"
    chunk: int = 32
    batch_size: int = 16
    max_radius: float = MAX_RADIUS
    dedup_rmsd: float = DEDUP_RMSD
    n_families: int | None = None
    quality: QualityConfig = field(default_factory=QualityConfig)

    def __post_init__(self) -> None:
        check_fields(self)
        if self.frames not in ("last", "all"):
            raise ConfigError(f"frames must be 'last' or 'all', got {self.frames!r}")
        if self.chunk < 1 or self.batch_size < 1:
            raise ConfigError("chunk and batch_size must be >= 1")


@dataclass
class BuildReport:
    """What a build did (counts of structures) and how long it took (s)."""

    structures: int = 0
    already_in: int = 0
    skipped: int = 0
    new: int = 0
    merged: int = 0
    rows: int = 0
    families: int = 0
    index: str = ""
    seconds: float = 0.0


def _usable(atoms: Atoms) -> bool:
    tags = atoms.get_tags()
    return bool((tags == 2).any() and (tags != 2).any())


def build_envdb(model: torch.nn.Module, structures: Sequence[Atoms], target: str,
                config: EnvdbConfig | None = None, checkpoint: str | None = None,
                index_file: str | None = None,
                progress: Callable[[int, int], None] | None = None) -> BuildReport:
    """Build or resume the database at ``target`` (see the module docstring)."""
    from metalegnet.explain.environment import explain_structures

    config = config or EnvdbConfig()
    t0 = time.perf_counter()
    db = EnvDB(target)
    meta = db.metadata
    if checkpoint and meta.get("checkpoint") not in (None, str(checkpoint)):
        raise ConfigError(f"{target} was built with {meta['checkpoint']}, not {checkpoint}: "
                          "use another output or the same checkpoint")
    db.set_metadata(checkpoint=str(checkpoint) if checkpoint else meta.get("checkpoint"),
                    config=_jsonable(asdict(config)), title="Meta-LegNet environments")
    report = BuildReport()
    frames = [with_oc20_tags(surface_frame(a))
              for a in select_frames(structures, config.frames)]
    report.structures = len(frames)
    done = db.processed_keys()
    todo = []
    for a in frames:
        if not _usable(a):
            report.skipped += 1
        elif structure_key(a) in done:
            report.already_in += 1
        else:
            todo.append(a)
    for k in range(0, len(todo), config.chunk):
        chunk = todo[k:k + config.chunk]
        explained = explain_structures(model, chunk, batch_size=config.batch_size,
                                       source="envdb", unseen="warn")
        scores = quality_scores(model, chunk, explained, config.quality, config.batch_size)
        entries = []
        for atoms, ex, q in zip(chunk, explained, scores):
            entry = extract_entry(atoms, ex, q, config.max_radius, config.quality.mode)
            if entry is None:
                report.skipped += 1
            else:
                entries.append(entry)
        counts = db.write(entries, config.dedup_rmsd)
        report.new += counts["new"]
        report.merged += counts["merged"]
        if progress:
            progress(min(k + config.chunk, len(todo)), len(todo))
    db.set_metadata(site_prior=fit_site_prior(frames).to_json())
    report.rows = len(db)
    report.families = update_families(db, config.n_families, config.quality.seed)
    if report.rows:
        ids, vecs = db.vectors()
        report.index = str(save_index(build_index(ids, vecs), index_path(target, index_file)))
    report.seconds = round(time.perf_counter() - t0, 3)
    return report


def update_families(db: EnvDB, n_families: int | None = None, seed: int = 0) -> int:
    """Cluster every row and store its ``family``; the number of families."""
    rows = list(db.rows())
    labels = assign_families(rows, n_families, seed)
    with db.db:
        for row, lab in zip(rows, labels):
            if int(row.get("family", -1)) != int(lab):
                db.db.update(row.id, family=int(lab))
    return int(len(set(labels.tolist())))


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    return obj

"""The environment database: ase.db on SQLite (a file) or PostgreSQL (a URL).

One row per distinct environment. The row's atoms are the environment atoms in the surface
frame (tags 2 adsorbate, 1 catalyst; no cell), so ``ase db ENV.db`` and ``ase gui ENV.db@id``
show them. Key-value pairs: ``sid``, ``adsorbate``, ``adsorbate_formula``, ``source_energy`` and
``energy_kind`` (eV; adsorption where known), ``site_type``, ``site_label``,
``site_composition``, ``env_composition``, ``binding`` (environment index of the binding
atom), ``tier``, ``stability``, ``overlap``, ``faithfulness``, ``signature`` (dedup bucket),
``count`` (structures merged into it), ``family``, ``source``, ``source_index``, ``key``.
Data: ``importances``, ``latents`` (per atom), ``vector`` (search vector), ``site``,
``descriptors`` and ``members`` (content keys of every merged structure). Metadata:
``checkpoint``, ``config`` and ``site_prior`` (:mod:`metalegnet.envdb.site_prior`).

Deduplication: a new entry with the same signature (site type, adsorbate formula and the
environment's full element multiset) as a stored row whose atoms register onto it
(:func:`~metalegnet.surface.registration.register` over all atoms, elements fixed) within
``dedup_rmsd`` Å is merged into that row (``count`` + 1, its key added to ``members``; the
better tier is kept).

Writes happen in transactions (``with db:``): a killed build keeps every committed batch,
and :meth:`EnvDB.processed_keys` tells a rerun what is already in.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from ase import Atoms

from metalegnet.envdb.extract import Entry
from metalegnet.envdb.site_prior import SitePrior
from metalegnet.errors import DataError
from metalegnet.surface.environment import LocalEnvironment, formula
from metalegnet.surface.registration import RegistrationConfig, register

DEDUP_RMSD = 0.1


def is_url(target: str) -> bool:
    return "://" in str(target)


def signature(env: LocalEnvironment) -> str:
    return f"{env.site_type}|{env.adsorbate_formula}|{formula(env.symbols)}"


def _num(x):
    """A key-value-safe number (ase.db refuses NaN in some backends): NaN -> -1."""
    return -1.0 if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


class EnvDB:
    """An environment database at ``target`` (a path, or a ``postgresql://`` URL)."""

    def __init__(self, target: str | Path, create: bool = True) -> None:
        import ase.db

        self.target = str(target)
        if not is_url(self.target) and not create and not Path(self.target).exists():
            raise DataError(f"{self.target}: no such environment database")
        try:
            self.db = ase.db.connect(self.target, type="postgresql" if is_url(self.target)
                                     else "db", append=True)
            self.db.count()
        except ImportError as exc:
            raise DataError(f"{self.target}: {exc} (PostgreSQL needs psycopg2: pip install "
                            "psycopg2-binary)") from None
        except Exception as exc:
            if isinstance(exc, DataError):
                raise
            raise DataError(f"{self.target}: cannot open the database ({type(exc).__name__}:"
                            f" {exc})") from None

    def __len__(self) -> int:
        return self.db.count()

    @property
    def metadata(self) -> dict:
        return dict(self.db.metadata)

    def set_metadata(self, **items) -> None:
        meta = dict(self.db.metadata)
        meta.update(items)
        self.db.metadata = meta

    def processed_keys(self) -> set[str]:
        """Content keys of every structure already stored or merged."""
        keys: set[str] = set()
        for row in self.db.select():
            keys.update(row.data.get("members", [row.get("key")]))
        return keys

    def write(self, entries: Sequence[Entry], dedup_rmsd: float = DEDUP_RMSD) -> dict:
        """Store ``entries`` in one transaction; ``{"new": n, "merged": m}``."""
        counts = {"new": 0, "merged": 0}
        with self.db:
            for entry in entries:
                match = self._duplicate(entry.environment, dedup_rmsd)
                if match is None:
                    self._insert(entry)
                    counts["new"] += 1
                else:
                    members = list(match.data.get("members", [])) + [entry.source["key"]]
                    tier = min(int(match.tier), int(entry.environment.tier))
                    self.db.update(match.id, count=int(match.get("count", 1)) + 1,
                                   tier=tier, data={"members": members})
                    counts["merged"] += 1
        return counts

    def _duplicate(self, env: LocalEnvironment, tol: float):
        if tol <= 0:
            return None
        whole = dataclasses.replace(env, is_adsorbate=np.zeros(len(env.symbols), bool),
                                    site=())
        for row in self.db.select(signature=signature(env)):
            pos = row.positions
            reg = register(whole, pos, np.array(row.symbols), np.arange(len(pos)),
                           np.zeros(3), None, RegistrationConfig(margin=tol + 0.5))
            if reg is not None and reg.rmsd < tol:
                return row
        return None

    def _insert(self, entry: Entry) -> int:
        env, desc, src, q = entry.environment, entry.descriptors, entry.source, entry.quality
        atoms = Atoms(symbols=list(env.symbols), positions=env.positions)
        atoms.set_tags(np.where(env.is_adsorbate, 2, 1))
        kvp = {"sid": src["sid"], "adsorbate": env.adsorbate,
               "adsorbate_formula": env.adsorbate_formula,
               "energy_kind": src["energy_kind"], "site_type": env.site_type,
               "site_label": env.site_label, "site_composition": env.site_composition,
               "env_composition": desc["env_composition"], "binding": int(env.binding),
               "tier": int(env.tier), "stability": _num(q["stability"]),
               "overlap": _num(q["overlap"]), "faithfulness": _num(q["faithfulness"]),
               "signature": signature(env), "count": 1, "family": -1,
               "source": src["source"] or "-", "source_index": int(src["index"]),
               "key": src["key"], "anomalies": src["anomalies"],
               "predicted": float(src["predicted_energy"])}
        if src["energy"] is not None:
            kvp["source_energy"] = float(src["energy"])
        data = {"importances": np.asarray(env.importances, float),
                "latents": np.asarray(entry.latents, np.float32),
                "vector": np.asarray(entry.vector, np.float32),
                "site": np.asarray(env.site, int), "descriptors": desc,
                "members": [src["key"]], "env_atoms": np.asarray(entry.env_atoms, int)}
        return self.db.write(atoms, key_value_pairs=kvp, data=data)

    def rows(self, **query) -> Iterator:
        yield from self.db.select(**query)

    def templates(self, max_tier: int = 3, adsorbate: str | None = None
                  ) -> list[LocalEnvironment]:
        """Every stored environment as a SEAM template (tier <= ``max_tier``)."""
        query = {"adsorbate_formula": adsorbate} if adsorbate else {}
        out = []
        for row in self.db.select(f"tier<={int(max_tier)}", **query):
            out.append(row_to_environment(row))
        return out

    def site_prior(self) -> SitePrior | None:
        """The site prior fitted on the build's source structures (None in a database built
        before priors were stored)."""
        data = self.metadata.get("site_prior")
        return SitePrior.from_json(data) if data else None

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, search vectors) of every row."""
        ids, vecs = [], []
        for row in self.db.select():
            ids.append(row.id)
            vecs.append(np.asarray(row.data["vector"], np.float32))
        if not ids:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        return np.asarray(ids, np.int64), np.stack(vecs)


def row_to_environment(row) -> LocalEnvironment:
    """A stored row as a :class:`LocalEnvironment`."""
    tags = np.asarray(row.tags) if hasattr(row, "tags") else np.ones(row.natoms, int)
    energy = row.get("source_energy")
    return LocalEnvironment(
        symbols=tuple(row.symbols), positions=np.array(row.positions, float),
        is_adsorbate=tags == 2, binding=int(row.binding),
        site=tuple(int(i) for i in row.data.get("site", [])), site_label=row.site_label,
        adsorbate=row.adsorbate, importances=np.array(row.data.get("importances")),
        energy=None if energy is None else float(energy), tier=int(row.tier),
        key=str(row.id), meta={"sid": row.get("sid"), "family": row.get("family")})

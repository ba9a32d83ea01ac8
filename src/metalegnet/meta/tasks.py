"""Tasks for meta-learning: one catalyst-adsorbate setting each.

A task is the set of labelled structures that share the values of the ``info`` keys of a
rule (``group_by``), e.g. ``surface,adsorbate`` (WWL-GPR: one adsorbate on one surface),
``metal,family`` (GAME-Net FG), ``metal,adsorbate`` (Xu & Kitchin) or ``formula`` (one
cluster with one adsorbate in the 0D data). ``formula`` is filled in from the composition
when absent.

Splits are by task, never by frame: source tasks meta-train, target tasks are unseen, and
:func:`check_no_leak` refuses a target system (by default: the same ``surface`` and
``adsorbate`` values, else the rule's own keys) that also occurs in the source. Each task
draws a support set (what the inner loop of eq. 24 adapts on) and a query set (what the
outer loop of eq. 25 scores) from its own structures, disjoint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from metalegnet.data.labels import Sample
from metalegnet.errors import ConfigError, DataError

#: info keys that identify a catalyst-adsorbate system for the leak check, in order of
#: preference (the first pair present in every structure is used)
SYSTEM_KEYS = (("surface", "adsorbate"), ("metal", "adsorbate"), ("metal", "family"))


def parse_keys(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"surface,adsorbate"`` -> ``("surface", "adsorbate")``; empty is an error."""
    keys = tuple(k.strip() for k in (text.split(",") if isinstance(text, str) else text)
                 if str(k).strip())
    if not keys:
        raise ConfigError("--group-by needs at least one info key (e.g. surface,adsorbate)")
    return keys


def task_key(atoms: Atoms, keys: Sequence[str]) -> tuple[str, ...]:
    """The values of ``keys`` in ``atoms.info`` (``formula`` from the composition)."""
    out = []
    for k in keys:
        value = atoms.info.get(k)
        if value is None and k == "formula":
            value = atoms.get_chemical_formula()
        if value is None:
            raise DataError(f"missing info key {k!r} needed to group structures into tasks "
                            f"(--group-by {','.join(keys)})", source=atoms.info.get("source"),
                            index=atoms.info.get("index"), sid=atoms.info.get("sid"))
        out.append(str(value))
    return tuple(out)


@dataclass
class Task:
    """One catalyst-adsorbate setting: ``key`` (the rule's values) and its samples."""

    key: tuple[str, ...]
    samples: list[Sample]

    @property
    def name(self) -> str:
        return "|".join(self.key)

    def __len__(self) -> int:
        return len(self.samples)

    def draw(self, k: int, rng: np.random.Generator, query: int | None = None
             ) -> tuple[list[Sample], list[Sample]]:
        """A random support set of ``k`` samples and a disjoint query set (``query``
        samples, default all the others)."""
        n = len(self.samples)
        if not 0 < k < n:
            raise ConfigError(f"task {self.name} has {n} structures: cannot draw a support "
                              f"set of {k} and a non-empty query set")
        order = rng.permutation(n)
        rest = order[k:] if query is None else order[k:k + query]
        return [self.samples[i] for i in order[:k]], [self.samples[i] for i in rest]


def build_tasks(samples: Sequence[Sample], group_by: Sequence[str], min_size: int = 1
                ) -> list[Task]:
    """Group labelled samples into tasks by the rule ``group_by`` (in first-seen order);
    tasks with fewer than ``min_size`` samples are left out."""
    groups: dict[tuple[str, ...], list[Sample]] = {}
    for s in samples:
        groups.setdefault(task_key(s.atoms, group_by), []).append(s)
    return [Task(k, v) for k, v in groups.items() if len(v) >= min_size]


def system_keys(samples: Sequence[Sample], group_by: Sequence[str]) -> tuple[str, ...]:
    """The info keys that name a system for the leak check (see :data:`SYSTEM_KEYS`)."""
    for keys in SYSTEM_KEYS:
        if all(all(s.atoms.info.get(k) is not None for k in keys) for s in samples):
            return keys
    return tuple(group_by)


def check_no_leak(source: Sequence[Task], target: Sequence[Task],
                  keys: Sequence[str] | None = None) -> tuple[str, ...]:
    """Raise :class:`DataError` if a target system (values of ``keys``, default
    :func:`system_keys`) occurs in any source task; returns the keys checked."""
    all_samples = [s for t in (*source, *target) for s in t.samples]
    keys = tuple(keys) if keys else system_keys(all_samples, source[0].key if source else ())
    seen = {task_key(s.atoms, keys) for t in source for s in t.samples}
    for t in target:
        for s in t.samples:
            if task_key(s.atoms, keys) in seen:
                a = s.atoms
                raise DataError(f"target task {t.name} leaks into the source: "
                                f"{dict(zip(keys, task_key(a, keys)))} is also a source "
                                "system", source=a.info.get("source"),
                                index=a.info.get("index"), sid=a.info.get("sid"))
    return keys


def matches(atoms: Atoms, where: Mapping[str, Sequence[str]]) -> bool:
    """``str(info[key])`` is one of ``where[key]`` for every key."""
    return all(str(atoms.info.get(k)) in {str(v) for v in vals} for k, vals in where.items())


def parse_where(text: str | None) -> dict[str, list[str]]:
    """``"surface=CuCo+PdRh;facet=(111)"`` -> ``{"surface": ["CuCo", "PdRh"], ...}``."""
    out: dict[str, list[str]] = {}
    for part in (text or "").split(";"):
        if not part.strip():
            continue
        if "=" not in part:
            raise ConfigError(f"--targets {text!r}: expected KEY=VALUE[+VALUE...][;KEY=...]")
        k, v = part.split("=", 1)
        out[k.strip()] = [x.strip() for x in v.split("+") if x.strip()]
    return out


def split_source_target(tasks: Sequence[Task], where: Mapping[str, Sequence[str]],
                        check: bool = True) -> tuple[list[Task], list[Task]]:
    """Target tasks: those whose structures all match ``where`` (a task with matching and
    other structures is an error); source: the rest, checked for leaks."""
    source, target = [], []
    for t in tasks:
        hits = [matches(s.atoms, where) for s in t.samples]
        if all(hits) and where:
            target.append(t)
        elif any(hits) and where:
            raise DataError(f"task {t.name} mixes target and source structures ({where}); "
                            "add the target key to --group-by")
        else:
            source.append(t)
    if check and source and target:
        check_no_leak(source, target)
    return source, target

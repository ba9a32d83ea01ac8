"""Train / validation / test splits by trajectory or system, never by frame.

Structures are grouped by a key read from ``atoms.info``: ``"sid"`` (one OC20 trajectory) by
default, or several keys, e.g. ``("metal", "adsorbate")`` for Xu-Kitchin, so every structure
of one system lands in the same part. Groups (not frames) are shuffled with a seeded
generator: the same seed and the same set of groups give the same split whatever the order
of the structures. A split saved as JSON can be re-applied to the same data later.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms

from metalegnet.data.io import write_bytes_atomic
from metalegnet.errors import ConfigError, DataError

PARTS = ("train", "val", "test")
GroupKey = str | Sequence[str]


@dataclass
class Split:
    """Group names and structure indices of each part.

    ``train``/``val``/``test`` list group names (e.g. ``sid`` values, or ``"Pt|O"`` for the
    key ``("metal", "adsorbate")``); ``train_idx``/``val_idx``/``test_idx`` are positions in
    the structure list the split was made from or applied to. ``fingerprint`` (see
    :func:`data_fingerprint`) identifies the data the split was made for (``None`` in split
    files written before it existed).
    """

    key: list[str]
    seed: int
    fractions: list[float]
    train: list[str] = field(default_factory=list)
    val: list[str] = field(default_factory=list)
    test: list[str] = field(default_factory=list)
    train_idx: list[int] = field(default_factory=list)
    val_idx: list[int] = field(default_factory=list)
    test_idx: list[int] = field(default_factory=list)
    fingerprint: dict | None = None

    def groups(self, part: str) -> list[str]:
        return getattr(self, _part(part))

    def indices(self, part: str) -> list[int]:
        return getattr(self, _part(part) + "_idx")

    def select(self, structures: Sequence, part: str) -> list:
        """The items of ``structures`` in ``part`` (the list the split was applied to)."""
        return [structures[i] for i in self.indices(part)]


def _part(part: str) -> str:
    if part not in PARTS:
        raise ConfigError(f"unknown split part {part!r}; choose one of {', '.join(PARTS)}")
    return part


def _keys(key: GroupKey) -> list[str]:
    return [key] if isinstance(key, str) else list(key)


def group_name(atoms: Atoms, key: GroupKey = "sid") -> str:
    """The group of a structure: ``info[key]``, or ``"a|b"`` joined for several keys."""
    parts = []
    for k in _keys(key):
        if atoms.info.get(k) is None:
            raise DataError(f"missing info key {k!r} needed to split by group",
                            source=atoms.info.get("source"), index=atoms.info.get("index"),
                            sid=atoms.info.get("sid"))
        parts.append(str(atoms.info[k]))
    return "|".join(parts)


def _counts(n: int, fractions: Sequence[float]) -> tuple[int, int, int]:
    f_train, f_val, f_test = fractions
    n_val = int(round(f_val * n))
    n_test = int(round(f_test * n))
    if n >= 3:
        n_val = max(n_val, 1) if f_val > 0 else 0
        n_test = max(n_test, 1) if f_test > 0 else 0
    while n_val + n_test > n - (1 if f_train > 0 and n > 0 else 0):
        if n_val >= n_test and n_val > 0:
            n_val -= 1
        else:
            n_test -= 1
    return n - n_val - n_test, n_val, n_test


def _check_fractions(fractions: Sequence[float]) -> list[float]:
    fr = [float(f) for f in fractions]
    if len(fr) != 3 or any(f < 0 for f in fr) or abs(sum(fr) - 1.0) > 1e-6:
        raise ConfigError(f"split fractions must be three non-negative numbers summing to 1, "
                          f"got {list(fractions)}")
    return fr


def matches(atoms: Atoms, where: Mapping[str, Sequence[str]]) -> bool:
    """True when ``str(atoms.info[key])`` is one of ``where[key]`` for every key."""
    return all(str(atoms.info.get(k)) in {str(v) for v in values}
               for k, values in where.items())


def split_by_group(structures: Sequence[Atoms], key: GroupKey = "sid",
                   fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0,
                   test_where: Mapping[str, Sequence[str]] | None = None,
                   seen_elements: bool = False) -> Split:
    """Split structures by group into train/val/test.

    Args:
        structures: the structures (their order only affects the ``*_idx`` lists).
        key: ``info`` key or keys that define a group.
        fractions: train/val/test fractions of the *groups* (not frames).
        seed: seed of the group shuffle.
        test_where: a fixed, out-of-domain test set: the groups whose structures match
            (:func:`matches`, e.g. ``{"surface": ["CuCo", "PdRh"]}``) are the test split,
            and the others are shuffled into train and validation in the ratio of the
            first two ``fractions``. A group with matching and other structures is an error.
        seen_elements: hold out (validation and test) only groups whose every element also
            occurs in a training group, so no model is scored on an element it never saw
            (e.g. the pure Co surface of wwl-simple is the only Co-containing group: it then
            always trains). Groups are taken from the end of the seeded shuffle, skipping a
            group whose holding-out would leave one of its (or an already held group's)
            elements without a training group; with every element covered the split is the
            one without this option. A fixed ``test_where`` test set is not checked.

    With at least 3 groups, val and test each get at least one group (when their fraction
    is non-zero) and train keeps at least one.
    """
    fr = _check_fractions(fractions)
    names = [group_name(a, key) for a in structures]
    groups = sorted(set(names))
    fixed: list[str] = []
    if test_where:
        hit: dict[str, set[bool]] = {}
        for a, name in zip(structures, names):
            hit.setdefault(name, set()).add(matches(a, test_where))
        mixed = [g for g, h in hit.items() if len(h) > 1]
        if mixed:
            raise ConfigError(f"test_where={dict(test_where)} cuts group {mixed[0]!r} (some of "
                              f"its structures match, some do not); group by the keys of "
                              f"test_where too")
        fixed = [g for g in groups if True in hit[g]]
        if not fixed or len(fixed) == len(groups):
            raise ConfigError(f"test_where={dict(test_where)} matches "
                              f"{'no' if not fixed else 'every'} group; it must leave "
                              "groups on both sides")
        groups = [g for g in groups if g not in set(fixed)]
    order = np.random.default_rng(seed).permutation(len(groups))
    shuffled = [groups[k] for k in order]
    if test_where:
        head = fr[0] + fr[1]
        n_train, n_val, _ = _counts(len(groups), [fr[0] / head, fr[1] / head, 0.0])
        n_val = len(groups) - n_train
    else:
        n_train, n_val, _ = _counts(len(groups), fr)
    if seen_elements:
        shuffled = _cover_elements(shuffled, len(shuffled) - n_train, structures, names)
    split = Split(key=_keys(key), seed=int(seed), fractions=fr,
                  train=sorted(shuffled[:n_train]),
                  val=sorted(shuffled[n_train:n_train + n_val]),
                  test=sorted(fixed or shuffled[n_train + n_val:]))
    return apply_split(split, structures, names)


def _cover_elements(shuffled: list[str], n_held: int, structures: Sequence[Atoms],
                    names: Sequence[str]) -> list[str]:
    """``shuffled`` reordered so that its last ``n_held`` groups (the held-out ones) only
    contain elements that some other, training, group contains (see ``seen_elements``)."""
    elements: dict[str, set[str]] = {g: set() for g in shuffled}
    for atoms, name in zip(structures, names):
        if name in elements:
            elements[name].update(atoms.get_chemical_symbols())
    held: list[str] = []
    for g in reversed(shuffled):
        if len(held) == n_held:
            break
        trial = set(held) | {g}
        train = set().union(*(elements[h] for h in shuffled if h not in trial))
        if all(elements[h] <= train for h in trial):
            held.append(g)
    if len(held) < n_held:
        raise ConfigError(f"seen_elements: only {len(held)} of the {n_held} held-out groups "
                          "can be chosen so that every element they contain also occurs in a "
                          "training group; lower the validation/test fractions or turn "
                          "seen_elements off")
    chosen = set(held)
    return [g for g in shuffled if g not in chosen] + [g for g in shuffled if g in chosen]


def apply_split(split: Split, structures: Sequence[Atoms],
                names: Sequence[str] | None = None) -> Split:
    """Recompute ``split``'s structure indices for ``structures`` (e.g. a saved split on
    re-read data). Every structure's group must belong to one part of the split."""
    names = list(names) if names is not None else [group_name(a, split.key)
                                                   for a in structures]
    part_of = {g: p for p in PARTS for g in split.groups(p)}
    idx: dict[str, list[int]] = {p: [] for p in PARTS}
    for i, name in enumerate(names):
        if name not in part_of:
            a = structures[i]
            raise DataError(f"group {name!r} is not in the saved split",
                            source=a.info.get("source"), index=a.info.get("index"),
                            sid=a.info.get("sid"))
        idx[part_of[name]].append(i)
    split.train_idx, split.val_idx, split.test_idx = idx["train"], idx["val"], idx["test"]
    return split


def data_fingerprint(structures: Sequence[Atoms]) -> dict:
    """What identifies a data set, whatever the order of its structures: ``num_structures``
    and ``sha256`` of the sorted ``sid``/chemical-formula pairs."""
    lines = sorted(f"{a.info.get('sid')}\t{a.get_chemical_formula()}" for a in structures)
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    return {"num_structures": len(lines), "sha256": digest}


def fingerprint_mismatch(split: Split, fingerprint: dict,
                         expected_size: int | None = None) -> str | None:
    """How the data of ``fingerprint`` (:func:`data_fingerprint`) differ from the data
    ``split`` was made for, or ``None`` when they match.

    An old split without a fingerprint is compared by size only: ``expected_size`` (the
    number of samples made from the data as the run made them) against its index lists.
    """
    was = split.fingerprint
    if was is not None:
        if all(was.get(k) == v for k, v in fingerprint.items()):
            return None
        if fingerprint["num_structures"] != was.get("num_structures"):
            return (f"{fingerprint['num_structures']} structures where the split was made for "
                    f"{was.get('num_structures')}")
        return "other sids or formulas than the data the split was made for"
    size = len(split.train_idx) + len(split.val_idx) + len(split.test_idx)
    if expected_size is not None and size and expected_size != size:
        return f"{expected_size} samples where the split was made for {size}"
    return None


def save_split(split: Split, path: str | os.PathLike) -> Path:
    """Write ``split`` as JSON (atomically: temporary file + ``os.replace``)."""
    data = {"format": "metalegnet-split-1", **asdict(split)}
    return write_bytes_atomic(path, json.dumps(data, indent=1).encode())


def load_split(path: str | os.PathLike) -> Split:
    """Read a split written by :func:`save_split`."""
    try:
        data = json.loads(Path(path).read_text())
        data.pop("format", None)
        return Split(**data)
    except FileNotFoundError:
        raise DataError("no such split file", source=str(path)) from None
    except (ValueError, TypeError) as exc:
        raise DataError(f"not a split file: {exc}", source=str(path)) from None


def load_or_make_split(structures: Sequence[Atoms], path: str | os.PathLike,
                       key: GroupKey = "sid", fractions: Sequence[float] = (0.8, 0.1, 0.1),
                       seed: int = 0) -> Split:
    """Re-use the split saved at ``path`` (applied to ``structures``), or make and save one."""
    if Path(path).exists():
        return apply_split(load_split(path), structures)
    split = split_by_group(structures, key, fractions, seed)
    save_split(split, path)
    return split

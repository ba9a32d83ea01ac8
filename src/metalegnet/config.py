"""Typed dataclass configs: build from dicts / YAML (unknown keys are an error), save as YAML."""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tempfile
import types
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import yaml

from metalegnet.errors import ConfigError

T = TypeVar("T")


def _type_name(tp: Any) -> str:
    """Readable name of an annotation: ``int``, ``list of float``, ``float or None``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("None" if a is type(None) else _type_name(a) for a in args)
    if origin in (list, tuple) and args:
        return f"{origin.__name__} of {_type_name(args[0])}"
    if origin is dict:
        return "mapping"
    if dataclasses.is_dataclass(tp):
        return f"{tp.__name__} mapping"
    return getattr(tp, "__name__", str(tp))


class _Mismatch(Exception):
    """``value`` does not fit the annotation (turned into one ConfigError by the caller)."""


def _float(value: Any) -> float:
    if isinstance(value, bool):
        raise _Mismatch
    if isinstance(value, str):  # YAML 1.1 reads ``1e-3`` (no dot) as a string
        try:
            value = float(value)
        except ValueError:
            raise _Mismatch from None
    if not isinstance(value, (int, float, np.integer, np.floating)):
        raise _Mismatch
    if not math.isfinite(float(value)):
        raise _Mismatch
    return float(value)


def _int(value: Any) -> int:
    if isinstance(value, (bool, np.bool_)):
        raise _Mismatch
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    raise _Mismatch


def _sequence(tp: Any, origin: type, args: tuple, value: Any) -> Any:
    item = args[0] if args else Any
    if isinstance(value, str) and item is str:  # "sid,formula" -> ["sid", "formula"]
        value = [k for k in value.split(",") if k]
    if not isinstance(value, (list, tuple)):
        raise _Mismatch
    if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
        if len(args) != len(value):
            raise _Mismatch
        return tuple(_check(a, v) for a, v in zip(args, value))
    return origin(_check(item, v) for v in value)


def _check(tp: Any, value: Any) -> Any:
    """``value`` converted to annotation ``tp`` (int -> float, list -> tuple, dict ->
    dataclass), or :class:`_Mismatch`."""
    if tp is Any or isinstance(tp, (str, typing.TypeVar)):
        return value
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            if type(None) in args:
                return None
            raise _Mismatch
        for arg in (a for a in args if a is not type(None)):
            try:
                return _check(arg, value)
            except _Mismatch:
                continue
        raise _Mismatch
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if isinstance(value, tp):
            return value
        if isinstance(value, dict):
            return from_dict(tp, value)
        raise _Mismatch
    if origin in (list, tuple):
        return _sequence(tp, origin, args, value)
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise _Mismatch
        return value
    if origin is typing.Literal:
        if value not in args:
            raise _Mismatch
        return value
    if tp is bool:
        if not isinstance(value, (bool, np.bool_)):
            raise _Mismatch
        return bool(value)
    if tp is int:
        return _int(value)
    if tp is float:
        return _float(value)
    if tp is str:
        if not isinstance(value, str):
            raise _Mismatch
        return value
    if isinstance(tp, type) and not isinstance(value, tp):
        raise _Mismatch
    return value


def check_value(owner: str, key: str, tp: Any, value: Any) -> Any:
    """``value`` of field ``owner.key`` checked against (and converted to) annotation ``tp``.

    Rules: ``bool`` only takes ``True``/``False``; ``int`` takes integers and integral floats
    (``2.0``), never a bool; ``float`` takes ints and floats (and numeric strings, since
    YAML 1.1 reads ``1e-3`` as a string), never NaN or inf (use ``None`` for "off"); ``str``
    takes only strings; ``list``/``tuple`` check every item (a string is split at commas for a
    list of strings); ``X | None`` also takes ``None``; a dataclass takes a mapping.

    Raises:
        ConfigError: one line naming the key, the value and the expected type, e.g.
            ``TrainConfig.lr='fast': expected float``.
    """
    try:
        return _check(tp, value)
    except _Mismatch:
        finite = "finite " if isinstance(value, float) and not math.isfinite(value) else ""
        raise ConfigError(f"{owner}.{key}={value!r}: expected {finite}{_type_name(tp)}") \
            from None


def check_fields(obj: Any) -> None:
    """Check (and convert in place) every field of dataclass instance ``obj`` against its
    annotation (see :func:`check_value`); for ``__post_init__`` of directly built configs."""
    cls = type(obj)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        value = getattr(obj, f.name)
        checked = check_value(cls.__name__, f.name, hints.get(f.name, Any), value)
        if checked is not value:
            object.__setattr__(obj, f.name, checked)


def from_dict(cls: type[T], data: dict[str, Any] | None) -> T:
    """``cls(**data)`` where every key must be a field of ``cls`` and every value must fit the
    field's annotation (see :func:`check_value`); else :class:`ConfigError`."""
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{cls.__name__}: expected a mapping of keys, got {data!r}")
    data = dict(data or {})
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} key(s): {', '.join(unknown)}; "
                          f"valid keys: {', '.join(sorted(names))}")
    hints = typing.get_type_hints(cls)
    kwargs = {k: check_value(cls.__name__, k, hints.get(k, Any), v) for k, v in data.items()}
    return cls(**kwargs)


def to_dict(obj: Any) -> dict[str, Any]:
    """JSON/YAML-able dict of a dataclass (tuples become lists)."""

    def conv(x):
        if dataclasses.is_dataclass(x):
            return {f.name: conv(getattr(x, f.name)) for f in dataclasses.fields(x)}
        if isinstance(x, (list, tuple)):
            return [conv(i) for i in x]
        if isinstance(x, dict):
            return {k: conv(v) for k, v in x.items()}
        return x

    return conv(obj)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` so the file appears complete or not at all: a temporary file
    in the same folder, flushed to disk, then ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


#: ``tempfile.mkstemp(prefix=".NAME.", suffix=".tmp")`` names: 8 random characters
_TMP_NAME = re.compile(r"^\.(?P<name>.+)\.[A-Za-z0-9_]{8}\.tmp$")


def remove_orphan_tmp(folder: str | os.PathLike, names: Iterable[str] | None = None
                      ) -> list[Path]:
    """Delete the temporary files a killed :func:`atomic_write_bytes` left in ``folder``
    (``.NAME.XXXXXXXX.tmp``); only those of the files in ``names`` when given. Call it only
    when no other process writes there. Returns the removed paths."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    wanted = None if names is None else set(names)
    removed = []
    for path in sorted(folder.iterdir()):
        match = _TMP_NAME.match(path.name)
        if match and path.is_file() and (wanted is None or match["name"] in wanted):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_write_bytes`)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def save_yaml(obj: Any, path: str | os.PathLike) -> None:
    data = to_dict(obj) if dataclasses.is_dataclass(obj) else obj
    atomic_write_text(path, yaml.safe_dump(data, sort_keys=False))


def load_yaml(path: str | os.PathLike) -> dict[str, Any]:
    try:
        with open(path) as fh:
            data = yaml.safe_load(fh) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data

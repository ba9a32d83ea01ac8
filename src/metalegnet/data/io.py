"""Read structures from anything ASE reads, and write extended XYZ atomically.

A *source* is one of

* a file ASE reads (extxyz/xyz, ``.xz``/``.gz``/``.bz2`` compressed, ``.traj``, ase.db ``.db``
  or ``.json``, CIF, POSCAR, ...),
* a folder (the structure files directly inside it, in sorted order: suffixes ``.extxyz``,
  ``.xyz``, ``.traj``, ``.db``, ``.json`` (ASE database only), ``.cif``, ``.pdb``, ``.xsf``,
  ``.vasp``, ``.poscar``, optionally compressed, and ``POSCAR``/``CONTCAR``/``OUTCAR``/
  ``vasprun.xml``; hidden and other files are skipped),
* a glob pattern (``"runs/*.traj"``; matches are filtered like folder entries),
* an LMDB store written by :func:`metalegnet.data.store.convert` (a folder holding ``data.mdb``
  or a path ending in ``.lmdb``),
* the name of an embedded data set (see :func:`metalegnet.data.registry.available`).

Every returned ``Atoms`` carries ``info["source"]`` (the file it came from, ``str``),
``info["index"]`` (its position within that file, 0-based) and a string ``info["sid"]``
(system / trajectory id, OC20 convention). Where the file has no ``sid``: frames of an ASE
trajectory (``.traj``: one file = one relaxation) share the file stem as ``sid`` and get
``fid`` = frame number; frames of any other file get ``"<stem>_<index>"``. A ``source`` value
already present in the file (e.g. a licence line) is kept as ``info["provenance"]``.
Positions are in Å; labels (energies in eV, forces in eV/Å) stay where ASE puts them (the
attached ``SinglePointCalculator`` and ``info``).
"""

from __future__ import annotations

import bz2
import glob
import gzip
import io
import lzma
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms
from ase.io.extxyz import key_val_str_to_dict
from ase.io.formats import filetype, ioformats, string2index

from metalegnet.config import atomic_write_bytes
from metalegnet.errors import DataError

#: Compressed suffixes and their openers (ASE seeks backwards in ``.xz`` files, which makes
#: reading quadratic in the number of frames, so compressed files are decompressed once here).
_OPENERS = {".xz": lzma.open, ".gz": gzip.open, ".bz2": bz2.open}
_DB_FORMATS = ("db", "json")
#: Suffixes that name a structure format when ASE cannot tell the format from the content.
_SUFFIX_FORMATS = {"extxyz": "extxyz", "xyz": "extxyz", "traj": "traj", "db": "db",
                   "cif": "cif", "pdb": "proteindatabank", "xsf": "xsf", "vasp": "vasp",
                   "poscar": "vasp"}
_VASP_NAMES = ("POSCAR", "CONTCAR", "OUTCAR", "vasprun.xml")
_GLOB_CHARS = set("*?[")
#: ``info`` keys that hold text (species, formulas, names): extxyz cannot tell the string
#: ``F`` (fluorine) from the bool False, so these are always read as written.
STRING_INFO_KEYS = ("sid", "adsorbate", "metal", "species", "element", "symbol", "symbols",
                    "formula", "surface", "site", "site_relaxed", "system_id", "task",
                    "reaction", "family", "role", "placement", "oracle", "anomalies",
                    "calc_type", "subset", "dft_code", "facet")

Index = int | slice | str


def is_lmdb_store(path: str | os.PathLike) -> bool:
    """True for a folder holding ``data.mdb`` or a path ending in ``.lmdb``."""
    p = Path(path)
    return p.suffix == ".lmdb" or (p.is_dir() and (p / "data.mdb").is_file())


def file_stem(path: str | os.PathLike) -> str:
    """File name without compression and format suffixes: ``a/b.extxyz.xz`` -> ``b``."""
    p = Path(path)
    if p.suffix in _OPENERS:
        p = p.with_suffix("")
    return p.stem


def _as_index(index: Index) -> int | slice:
    if isinstance(index, str):
        try:
            return string2index(index)
        except ValueError as exc:
            raise DataError(f"invalid index {index!r} (use e.g. ':', '0', '-1', '::2')") from exc
    return index


def select_frames(frames: Sequence[Atoms], index: Index, source: str) -> list[Atoms]:
    """Pick ``frames[index]`` (int, slice or ASE index string such as ``"::2"``); ``frames``
    may be any sequence that accepts slices (a list, an LMDB store)."""
    idx = _as_index(index)
    if isinstance(idx, slice):
        return list(frames[idx])
    if not -len(frames) <= idx < len(frames):
        raise DataError(f"index {idx} out of range ({len(frames)} structures)", source=source)
    return [frames[idx]]


def _scalar(value):
    return value.item() if isinstance(value, np.generic) else value


def _sid_str(value) -> str:
    value = _scalar(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def annotate(atoms: Atoms, source: str, index: int, trajectory: bool = False) -> Atoms:
    """Set ``source``/``index``/``sid`` (and ``fid`` for trajectories) in ``atoms.info``."""
    info = atoms.info
    for key, value in list(info.items()):
        info[key] = _scalar(value)
    old = info.get("source")
    if old is not None and old != source:
        info.setdefault("provenance", old)
    info["source"] = source
    info["index"] = int(index)
    stem = file_stem(source)
    if "sid" in info:
        info["sid"] = _sid_str(info["sid"])
    else:
        info["sid"] = stem if trajectory else f"{stem}_{index}"
    if trajectory and "fid" not in info:
        info["fid"] = int(index)
    return atoms


def _read_db(path: Path, fmt: str) -> list[Atoms]:
    import ase.db

    frames = []
    with ase.db.connect(str(path), type=fmt) as db:
        for row in db.select():
            atoms = row.toatoms()
            atoms.info.update(row.key_value_pairs)
            atoms.info.setdefault("db_id", row.id)
            frames.append(atoms)
    return frames


class _BoolText(str):
    """An extxyz ``info`` value ASE read as a bool (``F``, ``True``, ...), kept as written
    until :func:`_restore_info_strings` decides whether it is text or a flag."""

    flag: bool


def _raw_value(line: str, key: str) -> str | None:
    match = re.search(r"(?:^|\s)" + re.escape(key) + r"=([\"']?)(\S+?)\1(?=\s|$)", line)
    return match.group(2) if match else None


def _extxyz_properties(line: str) -> dict:
    """ASE's comment-line parser, but single booleans of ``info`` keys keep their text."""
    info = key_val_str_to_dict(line)
    for key, value in info.items():
        if key != "pbc" and isinstance(value, bool):
            raw = _raw_value(line, key)
            if raw is not None:
                text = _BoolText(raw)
                text.flag = value
                info[key] = text
    return info


def _restore_info_strings(frames: Sequence[Atoms]) -> None:
    """Make each ``info`` value read as a bool a str (``adsorbate=F``: fluorine) where the key
    holds text: it is in :data:`STRING_INFO_KEYS` or holds a string in another frame of the
    file; else the bool ASE would have given."""
    text_keys = set(STRING_INFO_KEYS)
    for atoms in frames:
        text_keys.update(k for k, v in atoms.info.items()
                         if isinstance(v, str) and not isinstance(v, _BoolText))
    for atoms in frames:
        for key, value in atoms.info.items():
            if isinstance(value, _BoolText):
                atoms.info[key] = str.__str__(value) if key in text_keys else value.flag


def _read_text(path: Path, fmt: str, text: str | None) -> list[Atoms]:
    source = io.StringIO(text) if text is not None else str(path)
    if fmt != "extxyz":
        return ase.io.read(source, ":", format=fmt)
    frames = ase.io.read(source, ":", format=fmt, properties_parser=_extxyz_properties)
    _restore_info_strings(frames)
    return frames


def _read_all(path: Path, fmt: str) -> list[Atoms]:
    if fmt in _DB_FORMATS:
        return _read_db(path, fmt)
    opener = _OPENERS.get(path.suffix)
    if opener is None:
        return _read_text(path, fmt, None)
    with opener(path, "rb") as fh:
        raw = fh.read()
    if ioformats[fmt].isbinary:
        return ase.io.read(io.BytesIO(raw), ":", format=fmt)
    return _read_text(path, fmt, raw.decode())


def _format_of(path: Path) -> str | None:
    """ASE format name of ``path``: from its content, else from a structure-file suffix (so a
    corrupt ``.extxyz`` is reported as unreadable, not skipped); ``None`` if unknown."""
    try:
        return filetype(str(path), guess=False)
    except Exception:  # ASE raises several types for files it does not know
        name = path.with_suffix("") if path.suffix in _OPENERS else path
        return _SUFFIX_FORMATS.get(name.suffix.lower().lstrip("."))


def _reason(exc: Exception) -> str:
    if isinstance(exc, KeyError) and exc.args:
        return f"unknown element symbol or key {exc.args[0]!r}"
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def read_file(path: str | os.PathLike, index: Index = ":") -> list[Atoms]:
    """Read one file (or LMDB store); see the module docstring for the ``info`` keys set."""
    path = Path(path)
    source = str(path)
    if is_lmdb_store(path):
        from metalegnet.data.store import LmdbStructures

        return select_frames(LmdbStructures(path), index, source)
    if not path.is_file():
        raise DataError("no such file", source=source)
    fmt = _format_of(path)
    if fmt is None:
        raise DataError("unknown file format (ASE cannot identify it)", source=source)
    try:
        frames = _read_all(path, fmt)
    except DataError:
        raise
    except Exception as exc:  # any parser failure becomes one clear line
        raise DataError(f"cannot read as {fmt}: {_reason(exc)}", source=source) from exc
    trajectory = fmt == "traj"
    for k, atoms in enumerate(frames):
        annotate(atoms, source, k, trajectory=trajectory)
    return select_frames(frames, index, source)


def _is_structure_file(path: Path) -> bool:
    """Whether a folder or glob entry is a structure file: a structure suffix (see
    :data:`_SUFFIX_FORMATS`, optionally compressed) or a VASP file name. ASE alone would also
    claim ``README.md`` (CASTEP) or ``run.log`` (Gaussian), so suffixes decide here."""
    if path.name.startswith(".") or not path.is_file():
        return False
    name = path.with_suffix("") if path.suffix in _OPENERS else path
    if name.name in _VASP_NAMES:
        return True
    suffix = name.suffix.lower().lstrip(".")
    if suffix == "json":  # only ASE database JSON, not arbitrary JSON files
        try:
            import ase.db

            ase.db.connect(str(path), type="json").count()
        except Exception:
            return False
        return True
    return suffix in _SUFFIX_FORMATS


def resolve(source: str | os.PathLike) -> list[Path]:
    """The files / LMDB stores a path, folder or glob stands for, in sorted order."""
    text = os.fspath(source)
    path = Path(text)
    if path.exists():
        if is_lmdb_store(path) or path.is_file():
            return [path]
        files = [p for p in sorted(path.iterdir()) if is_lmdb_store(p) or _is_structure_file(p)]
        if not files:
            raise DataError("folder holds no structure files", source=text)
        return files
    if _GLOB_CHARS & set(text):
        matches = [Path(m) for m in sorted(glob.glob(text))]
        files = [m for m in matches if is_lmdb_store(m) or _is_structure_file(m)]
        if not files:
            raise DataError("glob matches no structure files", source=text)
        return files
    from metalegnet.data import registry

    raise DataError("no such file, folder or embedded data set (embedded: "
                    f"{', '.join(registry.available())})", source=text)


def iter_structures(source: str | os.PathLike, index: Index = ":") -> Iterator[Atoms]:
    """Yield structures file by file (``index`` applies within each file)."""
    from metalegnet.data import registry

    if isinstance(source, str) and source in registry.available() and not Path(source).exists():
        yield from registry.load(source, index=index)
        return
    for path in resolve(source):
        yield from read_file(path, index)


def read_structures(source: str | os.PathLike, index: Index = ":") -> list[Atoms]:
    """Read every structure of ``source`` (file, folder, glob, LMDB store or embedded name).

    Args:
        source: see the module docstring.
        index: ASE-style selection applied within each file: ``":"`` (all), ``"0"`` (first
            frame, e.g. IS2RE initial structures), ``"-1"`` (last), ``"::10"``, an int or a slice.

    Raises:
        DataError: the source does not exist or a file cannot be parsed (the message names it).
    """
    return list(iter_structures(source, index))


def _writable_info(atoms: Atoms) -> Atoms:
    out = atoms.copy()
    out.calc = atoms.calc
    for key in ("source", "index"):
        out.info.pop(key, None)
    for key, value in list(out.info.items()):
        if isinstance(value, dict) or value is None:  # extxyz cannot hold these
            del out.info[key]
    return out


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` so the file appears complete or not at all."""
    return atomic_write_bytes(path, data)


def write_extxyz_atomic(path: str | os.PathLike, atoms_list: Sequence[Atoms]) -> Path:
    """Write ``atoms_list`` as extended XYZ (``.xz``/``.gz``/``.bz2`` compressed by suffix).

    Labels attached as a ``SinglePointCalculator`` (energy eV, forces eV/Å) are written. The
    reader annotations ``source`` and ``index`` are not. The file appears complete or not at
    all (see :func:`write_bytes_atomic`).
    """
    path = Path(path)
    text = io.StringIO()
    ase.io.write(text, [_writable_info(a) for a in atoms_list], format="extxyz")
    data = text.getvalue().encode()
    opener = _OPENERS.get(path.suffix)
    if opener is not None:
        buf = io.BytesIO()
        with opener(buf, "wb") as fh:
            fh.write(data)
        data = buf.getvalue()
    return write_bytes_atomic(path, data)

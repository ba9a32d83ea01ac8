"""On-disk LMDB store of structures, for data sets larger than memory.

Layout: an LMDB environment folder (``data.mdb``, ``lock.mdb``) with one record per structure
under the key ``"%010d" % i`` and a metadata record under ``__meta__`` (JSON: ``count``,
``elements``, ``source``, ``format``). A record is an uncompressed ``.npz`` (read with
``allow_pickle=False``; nothing is ever unpickled) holding

==============  ==========  =========================================================
``numbers``     ``[N]``     atomic numbers
``positions``   ``[N, 3]``  Cartesian positions (Å)
``cell``        ``[3, 3]``  lattice vectors as rows (Å)
``pbc``         ``[3]``     periodicity
``tags``        ``[N]``     OC20 tags (0 subsurface/fixed, 1 surface, 2 adsorbate)
``fixed``       ``[N]``     FixAtoms mask
``energy``      ``[]``      total energy (eV), when known
``forces``      ``[N, 3]``  forces (eV/Å), when known
``stress``      ``[6]``     stress (eV/Å³, Voigt), when known
``info``        bytes       JSON of the JSON-able ``atoms.info`` values (``sid``, ``fid``, ...)
==============  ==========  =========================================================

The store is written to a temporary folder beside ``dst`` and renamed into place, so it
exists complete or not at all. :class:`LmdbStructures` opens the environment lazily, once per
process, so it is safe to hand to ``DataLoader`` workers (fork or spawn).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

import lmdb
import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.constraints import FixAtoms
from ase.data import chemical_symbols

from metalegnet.errors import DataError

FORMAT = "metalegnet-lmdb-1"
_META_KEY = b"__meta__"
_SKIP_INFO = ("source", "index")


def _key(i: int) -> bytes:
    return f"{i:010d}".encode()


def _jsonable(value):
    """``value`` as plain JSON types, or raise ``TypeError``."""
    if isinstance(value, np.generic):
        value = value.item()
    elif isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, dict):
        value = {str(k): _jsonable(v) for k, v in value.items()}
    elif isinstance(value, list | tuple):
        value = [_jsonable(v) for v in value]
    json.dumps(value)
    return value


def _info_json(atoms: Atoms) -> dict:
    out = {}
    for key, value in atoms.info.items():
        if key in _SKIP_INFO:
            continue
        try:
            out[key] = _jsonable(value)
        except (TypeError, ValueError):
            continue  # not representable as JSON (e.g. an object): dropped
    source = atoms.info.get("source")
    if source is not None:
        out["origin_source"] = str(source)
        out["origin_index"] = int(atoms.info.get("index", -1))
    return out


def encode(atoms: Atoms) -> bytes:
    """One structure as ``.npz`` bytes (see the module docstring)."""
    fixed = np.zeros(len(atoms), dtype=bool)
    for c in atoms.constraints:
        if isinstance(c, FixAtoms):
            fixed[c.get_indices()] = True
    arrays = {
        "numbers": np.asarray(atoms.numbers, dtype=np.int64),
        "positions": np.asarray(atoms.positions, dtype=np.float64),
        "cell": np.asarray(atoms.cell.array, dtype=np.float64),
        "pbc": np.asarray(atoms.pbc, dtype=bool),
        "tags": np.asarray(atoms.get_tags(), dtype=np.int64),
        "fixed": fixed,
        "info": np.frombuffer(json.dumps(_info_json(atoms)).encode(), dtype=np.uint8),
    }
    results = getattr(atoms.calc, "results", None) or {}
    from metalegnet.data.labels import get_labels

    labels = get_labels(atoms)
    if "energy" in labels:
        arrays["energy"] = np.asarray(labels["energy"], dtype=np.float64)
    if "forces" in labels:
        arrays["forces"] = labels["forces"]
    if results.get("stress") is not None:
        arrays["stress"] = np.asarray(results["stress"], dtype=np.float64)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def decode(data: bytes) -> Atoms:
    """Inverse of :func:`encode` (labels come back as a ``SinglePointCalculator``)."""
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        arr = {k: npz[k] for k in npz.files}
    atoms = Atoms(numbers=arr["numbers"], positions=arr["positions"], cell=arr["cell"],
                  pbc=arr["pbc"], tags=arr["tags"])
    if arr["fixed"].any():
        atoms.set_constraint(FixAtoms(mask=arr["fixed"]))
    atoms.info.update(json.loads(arr["info"].tobytes().decode()))
    results = {k: (float(arr[k]) if k == "energy" else arr[k])
               for k in ("energy", "forces", "stress") if k in arr}
    if results:
        atoms.calc = SinglePointCalculator(atoms, **results)
    return atoms


def write_store(dst: str | os.PathLike, structures: Iterable[Atoms], source: str = "",
                overwrite: bool = False, map_size: int = 1 << 30) -> int:
    """Write ``structures`` (any iterable; streamed) to a new LMDB store at ``dst``.

    Returns the number of structures written.
    """
    dst = Path(dst)
    if dst.exists() and not overwrite:
        raise DataError("already exists (pass overwrite=True / --overwrite)", source=str(dst))
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".tmp"))
    try:
        count, elements = _write_env(tmp, structures, source, map_size)
        if dst.exists():
            old = dst.with_name(f".{dst.name}.old")
            os.replace(dst, old)
            os.replace(tmp, dst)
            shutil.rmtree(old) if old.is_dir() else old.unlink()
        else:
            os.replace(tmp, dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return count


def _commit(env: lmdb.Environment, records: list[tuple[bytes, bytes]]) -> None:
    """Write ``records`` in one transaction, doubling the map size while it is full."""
    while True:
        try:
            with env.begin(write=True) as txn:
                for key, value in records:
                    txn.put(key, value)
            return
        except lmdb.MapFullError:
            env.set_mapsize(env.info()["map_size"] * 2)


def _write_env(path: Path, structures: Iterable[Atoms], source: str, map_size: int
               ) -> tuple[int, list[str]]:
    env = lmdb.open(str(path), map_size=map_size, subdir=True, meminit=False, sync=False,
                    metasync=False)
    count, zs, batch, batch_bytes = 0, set(), [], 0
    try:
        for atoms in structures:
            record = encode(atoms)
            batch.append((_key(count), record))
            batch_bytes += len(record)
            zs.update(int(z) for z in atoms.numbers)
            count += 1
            if len(batch) >= 512 or batch_bytes > 64 << 20:
                _commit(env, batch)
                batch, batch_bytes = [], 0
        elements = [chemical_symbols[z] for z in sorted(zs)]
        meta = {"format": FORMAT, "count": count, "elements": elements, "source": source}
        _commit(env, batch + [(_META_KEY, json.dumps(meta).encode())])
        env.sync(True)
    finally:
        env.close()
    return count, elements


def convert(src, dst: str | os.PathLike, index: int | slice | str = ":", validate: bool = True,
            min_distance: float = 0.5, overwrite: bool = False) -> int:
    """Convert any source :func:`metalegnet.data.io.read_structures` accepts into a store.

    Structures are read file by file and validated (see
    :func:`metalegnet.data.validate.validate_structure`) as they are written; the first bad
    one aborts the conversion and nothing is left at ``dst``.

    Returns:
        Number of structures written.
    """
    from metalegnet.data.io import iter_structures
    from metalegnet.data.validate import validate_structure

    def checked():
        for atoms in iter_structures(src, index):
            if validate:
                validate_structure(atoms, min_distance=min_distance)
            yield atoms

    return write_store(dst, checked(), source=os.fspath(src), overwrite=overwrite)


#: Open read-only environments of this process: (path, inode of data.mdb) -> (pid, env).
#: LMDB allows one open handle per file per process, so stores of the same path share one.
_ENVS: dict[tuple[str, int], tuple[int, lmdb.Environment]] = {}


def _env_for(path: Path) -> lmdb.Environment:
    """The read-only environment of ``path`` for this process (opened on first use; a handle
    inherited through ``fork`` is released in the child and reopened)."""
    key = (str(path.resolve()), (path / "data.mdb").stat().st_ino)
    entry = _ENVS.get(key)
    if entry is not None and entry[0] == os.getpid():
        return entry[1]
    if entry is not None:
        entry[1].close()  # the parent's handle, copied by fork: unusable here
    env = lmdb.open(str(path), readonly=True, lock=False, readahead=False, meminit=False,
                    subdir=True, max_readers=512)
    _ENVS[key] = (os.getpid(), env)
    return env


class LmdbStructures:
    """Read-only, lazily opened sequence of ``Atoms`` in an LMDB store.

    ``store[i]`` returns an ``Atoms`` with a ``SinglePointCalculator`` (energy eV, forces eV/Å)
    and ``info`` (``sid``, ``fid``, ... plus ``source`` = the store path and ``index`` = ``i``).
    The environment is opened on first access in each process, so a store can be pickled to
    or forked into ``DataLoader`` workers.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not (self.path / "data.mdb").is_file():
            raise DataError("not an LMDB store (no data.mdb inside)", source=str(self.path))
        self._meta: dict | None = None

    def _get(self, key: bytes) -> bytes | None:
        with _env_for(self.path).begin() as txn:
            return txn.get(key)

    @property
    def meta(self) -> dict:
        """The metadata record (``count``, ``elements``, ``source``, ``format``)."""
        if self._meta is None:
            raw = self._get(_META_KEY)
            if raw is None:
                raise DataError("not a metalegnet store (no metadata record)",
                                source=str(self.path))
            self._meta = json.loads(raw)
        return self._meta

    def __len__(self) -> int:
        return int(self.meta["count"])

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"index {i} out of range ({n} structures)")
        i = int(i) % n
        atoms = decode(self._get(_key(i)))
        atoms.info["source"] = str(self.path)
        atoms.info["index"] = i
        return atoms

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

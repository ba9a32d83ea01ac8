"""Typed configs refuse values of the wrong type in one line; orphaned temporary files."""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from metalegnet.config import atomic_write_bytes, from_dict, remove_orphan_tmp
from metalegnet.errors import ConfigError


@dataclass
class Demo:
    count: int = 1
    rate: float = 0.1
    flag: bool = False
    name: str = "a"
    sizes: tuple[float, ...] = (1.0,)
    keys: list[str] = field(default_factory=lambda: ["sid"])
    limit: float | None = None


@pytest.mark.parametrize("data,message", [
    ({"count": "one"}, "Demo.count='one': expected int"),
    ({"count": 2.5}, "Demo.count=2.5: expected int"),
    ({"count": True}, "Demo.count=True: expected int"),
    ({"rate": "fast"}, "Demo.rate='fast': expected float"),
    ({"rate": math.nan}, "Demo.rate=nan: expected finite float"),
    ({"rate": math.inf}, "Demo.rate=inf: expected finite float"),
    ({"rate": False}, "Demo.rate=False: expected float"),
    ({"flag": 1}, "Demo.flag=1: expected bool"),
    ({"name": 3}, "Demo.name=3: expected str"),
    ({"sizes": [1.0, "x"]}, "Demo.sizes=[1.0, 'x']: expected tuple of float"),
    ({"sizes": 2.0}, "Demo.sizes=2.0: expected tuple of float"),
    ({"limit": "none"}, "Demo.limit='none': expected float or None"),
])
def test_wrong_types_are_one_line(data, message):
    with pytest.raises(ConfigError) as err:
        from_dict(Demo, data)
    assert str(err.value) == message


def test_accepted_conversions():
    cfg = from_dict(Demo, {"count": 3.0, "rate": 1, "sizes": [2, 3.5], "keys": "sid,formula",
                           "limit": None})
    assert cfg.count == 3 and isinstance(cfg.count, int)
    assert cfg.rate == 1.0 and isinstance(cfg.rate, float)
    assert cfg.sizes == (2.0, 3.5)
    assert cfg.keys == ["sid", "formula"]
    # YAML 1.1 reads 1e-3 (no dot) as a string
    assert from_dict(Demo, {"rate": "1e-3"}).rate == pytest.approx(1e-3)


def test_model_configs_are_checked_too():
    from metalegnet.model import LegNetConfig

    with pytest.raises(ConfigError, match=r"^LegNetConfig.num_blocks=True: expected int$"):
        from_dict(LegNetConfig, {"num_blocks": True})
    assert from_dict(LegNetConfig, {"voxel_sizes": [4, 8]}).voxel_sizes == (4.0, 8.0)


def test_orphaned_tmp_files_are_removed(tmp_path):
    atomic_write_bytes(tmp_path / "last.pt", b"done")
    fd, orphan = tempfile.mkstemp(dir=tmp_path, prefix=".last.pt.", suffix=".tmp")
    with open(fd, "wb") as fh:  # what a write killed before os.replace leaves
        fh.write(b"x" * 1000)
    keep = [tmp_path / "last.pt", tmp_path / ".hidden.tmp", tmp_path / "notes.tmp"]
    for path in keep[1:]:
        path.write_text("not ours")
    assert remove_orphan_tmp(tmp_path) == [Path(orphan)]
    assert all(p.exists() for p in keep)
    assert remove_orphan_tmp(tmp_path / "missing") == []

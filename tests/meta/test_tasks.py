"""Tasks: grouping rule, disjoint support/query draws, source/target split and leak check."""

from __future__ import annotations

import numpy as np
import pytest

from metalegnet.data.labels import labels_for_task
from metalegnet.errors import ConfigError, DataError
from metalegnet.meta.tasks import (
    build_tasks,
    check_no_leak,
    parse_keys,
    parse_where,
    split_source_target,
)


@pytest.fixture()
def samples(emt_tasks):
    return labels_for_task(emt_tasks, "s2e", "total")


def test_tasks_by_rule_and_draws(samples):
    tasks = build_tasks(samples, parse_keys("surface,adsorbate"))
    assert [t.name for t in tasks] == ["Cu|CO", "Pt|CO", "Cu|O", "Au|CO"]
    assert all(len(t) == 6 for t in tasks)
    assert len(build_tasks(samples, ["surface"])) == 3
    support, query = tasks[0].draw(2, np.random.default_rng(0))
    ids = {id(s) for s in support}
    assert len(support) == 2 and len(query) == 4 and not ids & {id(s) for s in query}
    with pytest.raises(ConfigError):
        tasks[0].draw(6, np.random.default_rng(0))
    with pytest.raises(ConfigError):
        parse_keys(" , ")


def test_source_target_split_and_leak_check(samples):
    tasks = build_tasks(samples, ["surface", "adsorbate"])
    source, target = split_source_target(tasks, parse_where("surface=Au"))
    assert [t.name for t in target] == ["Au|CO"] and len(source) == 3
    assert check_no_leak(source, target) == ("surface", "adsorbate")
    # a finer rule puts the same (surface, adsorbate) on both sides: refused
    for s in samples:
        s.atoms.info["half"] = str(int(s.atoms.info["sid"].rsplit("-", 1)[1]) % 2)
    fine = build_tasks(samples, ["surface", "adsorbate", "half"])
    with pytest.raises(DataError, match="leaks into the source"):
        split_source_target(fine, parse_where("half=0"))
    with pytest.raises(DataError, match="mixes target and source"):
        split_source_target(tasks, parse_where("half=0"))
    with pytest.raises(DataError, match="missing info key 'facet'"):
        build_tasks(samples, ["surface", "facet"])

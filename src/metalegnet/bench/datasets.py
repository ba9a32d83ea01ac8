"""Where each row's data comes from: the embedded sets, or generated recipes in a cache folder.

Generated rows read ``<generated>/<recipe>`` (the output folder of ``metalegnet data generate
--recipe NAME``). bench-0d and bench-3d are generated there with EMT when missing (about 2 min
each on 2 cores; a stopped generation resumes); bench-2d and bench-oxide need an ML oracle and
hours, so they are used only where they have been generated, and their rows otherwise say
"not generated".
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from metalegnet.bench.suites import EMT_RECIPES, RECIPE_SETS

#: default cache of generated recipes (override with ``--generated`` or $METALEGNET_BENCH_DATA)
DEFAULT_GENERATED = Path(os.environ.get(
    "METALEGNET_BENCH_DATA", Path.home() / ".cache" / "metalegnet" / "bench-data"))


@dataclass(frozen=True)
class DataSource:
    """A data set ready for training (``source`` for ``read_structures``), or why not.

    Attributes:
        dataset: the row's data-set name.
        source: embedded name or folder; ``None`` when the data are not available.
        note: one line for the report (where the data are, or why they are missing).
    """

    dataset: str
    source: str | None
    note: str

    @property
    def available(self) -> bool:
        return self.source is not None


def _manifest(folder: Path) -> dict | None:
    path = folder / "manifest.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _describe(folder: Path, manifest: dict) -> str:
    counts = manifest.get("counts", {})
    oracle = manifest.get("oracle", {}).get("name", "?")
    return (f"{folder} ({oracle}, {counts.get('trajectories', '?')} trajectories, "
            f"{counts.get('frames', '?')} frames, status {manifest.get('status', '?')})")


def resolve(dataset: str, generated: str | Path, make_missing: bool = True,
            workers: int | None = None, log=print) -> DataSource:
    """The :class:`DataSource` of ``dataset``; generate an EMT recipe when missing and
    ``make_missing``."""
    if dataset not in RECIPE_SETS:
        return DataSource(dataset, dataset, "embedded")
    folder = Path(generated) / dataset
    manifest = _manifest(folder)
    if manifest is not None and manifest.get("status") == "complete":
        return DataSource(dataset, str(folder), _describe(folder, manifest))
    if dataset in EMT_RECIPES and make_missing:
        log(f"generating {dataset} with EMT into {folder} (about 2 min on 2 cores) ...")
        _generate(dataset, folder, workers)
        manifest = _manifest(folder) or {}
        return DataSource(dataset, str(folder), "generated in this run: "
                          + _describe(folder, manifest))
    if manifest is not None and manifest.get("counts", {}).get("trajectories", 0) > 0:
        return DataSource(dataset, str(folder), "partly generated: " + _describe(folder,
                                                                                 manifest))
    how = f"metalegnet data generate --recipe {dataset} --out {folder}"
    return DataSource(dataset, None, f"not generated (no {folder}/manifest.json; make it "
                                     f"with '{how}')")


def _generate(dataset: str, folder: Path, workers: int | None) -> None:
    from metalegnet.data.generate.recipes import get_recipe
    from metalegnet.data.generate.runner import GenerateConfig, generate

    recipe = get_recipe(dataset)
    cfg = GenerateConfig(out=str(folder), oracle="emt", plan=recipe.plan("emt"),
                         workers=workers, name=recipe.name)
    generate(cfg, progress=False)

"""``metalegnet data generate``: OC20-style relaxation trajectories labelled by an oracle.

Usage::

    metalegnet data generate --preset PRESET --oracle ORACLE --n N --out DIR [--workers W]
                             [--seed S]
    metalegnet data generate --recipe NAME [--oracle ORACLE] --out DIR [--workers W]
    metalegnet data generate --list
"""

from __future__ import annotations

import argparse

from metalegnet.errors import ConfigError


def register(subparsers) -> None:
    """Add the ``generate`` parser to the ``metalegnet data`` sub-commands."""
    p = subparsers.add_parser(
        "generate", help="generate OC20-style relaxation trajectories labelled by an oracle",
        description="Place adsorbates at random sites (AdsorbML random placement), relax them "
                    "with BFGS on a physics oracle and write one extxyz file per trajectory "
                    "(energy in eV, forces in eV/Å, tags 0/1/2, FixAtoms, sid/fid, e_ads) "
                    "plus manifest.json. A stopped run resumes in the same --out.")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--preset", choices=["nanocluster", "alloy-surface", "2d", "oxide"],
                      help="the kind of systems to make")
    what.add_argument("--recipe", help="a named deterministic benchmark set (see --list)")
    what.add_argument("--list", action="store_true",
                      help="list presets, recipes and oracles, then exit")
    p.add_argument("--oracle", choices=["emt", "sevennet", "chgnet"],
                   help="labelling oracle (default: emt, or the recipe's)")
    p.add_argument("--n", type=int, help="number of trajectories (with --preset)")
    p.add_argument("--out", help="output directory")
    p.add_argument("--workers", type=int, default=None,
                   help="worker processes (default: one per core)")
    p.add_argument("--seed", type=int, default=0, help="random seed (with --preset)")
    p.add_argument("--adsorbates", help="comma-separated adsorbate pool (with --preset; "
                                        "default: the 17 common OC20 adsorbates)")
    p.add_argument("--adsorbates-per-system", type=int, default=2,
                   help="distinct adsorbates per system (default 2)")
    p.add_argument("--placements", type=int, default=3,
                   help="random placements per adsorbate and system (default 3)")
    p.add_argument("--metals", help="comma-separated metals of nanocluster/alloy-surface "
                                    "(default: all the oracle covers)")
    p.add_argument("--max-cluster-atoms", type=int, default=147,
                   help="largest nanocluster (13-147 atoms, default 147)")
    p.add_argument("--placement-mode", choices=["heuristic", "random"], default="heuristic",
                   help="orientation: binding atom down with a 20° wobble (AdsorbML, default) "
                        "or uniformly random about the centre of mass")
    p.add_argument("--fmax", type=float, default=0.05, help="BFGS force threshold (eV/Å)")
    p.add_argument("--max-steps", type=int, default=200, help="BFGS step cap")
    p.add_argument("--keep-anomalies", action="store_true",
                   help="also label desorbed/dissociated/reconstructed trajectories with "
                   "e_ads (exploded ones never)")
    p.add_argument("--systems", metavar="START:STOP",
                   help="generate only the plan's systems START..STOP-1 (share one plan "
                        "between runs or machines)")
    p.add_argument("--device", default="cpu", help="torch device of the ML oracles")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _list() -> int:
    from metalegnet.data.generate.oracles import ORACLES, oracle_available
    from metalegnet.data.generate.presets import PRESET_KINDS
    from metalegnet.data.generate.recipes import RECIPES

    print("presets:")
    for name, kind in PRESET_KINDS.items():
        print(f"  {name:14s} {kind}")
    print("recipes:")
    for r in RECIPES.values():
        print(f"  {r.name:14s} n={r.n}, seed={r.seed}, default oracle {r.default_oracle}: "
              f"{r.description}")
    print("oracles:")
    for name in ORACLES:
        state = "installed" if oracle_available(name) else \
            "not installed (pip install 'metalegnet[oracle]')"
        print(f"  {name:14s} {state}")
    return 0


def build_config(args: argparse.Namespace):
    """The :class:`GenerateConfig` of parsed arguments."""
    from metalegnet.data.generate.plan import PlanConfig
    from metalegnet.data.generate.presets import PresetConfig
    from metalegnet.data.generate.recipes import get_recipe
    from metalegnet.data.generate.runner import GenerateConfig
    from metalegnet.surface.placement import PlacementConfig
    from metalegnet.surface.relax import RelaxConfig

    if not args.out:
        raise ConfigError("--out DIR is required")
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {args.workers}")
    relax = RelaxConfig(fmax=args.fmax, max_steps=args.max_steps)
    placement = PlacementConfig(mode=args.placement_mode)
    if args.recipe:
        if args.n is not None or args.seed != 0 or args.adsorbates or args.metals:
            raise ConfigError("--n, --seed, --adsorbates and --metals are fixed by the recipe")
        recipe = get_recipe(args.recipe)
        oracle = args.oracle or recipe.default_oracle
        plan = recipe.plan(oracle)
        name = recipe.name
    else:
        if args.n is None:
            raise ConfigError("--n N (number of trajectories) is required with --preset")
        oracle = args.oracle or "emt"
        pool = tuple(a.strip() for a in args.adsorbates.split(",") if a.strip()) \
            if args.adsorbates else None
        extra = {"adsorbates": pool} if pool else {}
        metals = tuple(m.strip() for m in args.metals.split(",") if m.strip()) \
            if args.metals else None
        preset_cfg = PresetConfig(metals=metals, max_cluster_atoms=args.max_cluster_atoms)
        plan = PlanConfig(preset=args.preset, n=args.n, seed=args.seed,
                          adsorbates_per_system=args.adsorbates_per_system,
                          placements_per_adsorbate=args.placements,
                          preset_config=preset_cfg, **extra)
        name = args.preset
    return GenerateConfig(out=args.out, oracle=oracle, plan=plan, relax=relax,
                          placement=placement, workers=args.workers,
                          keep_anomalies=args.keep_anomalies, device=args.device, name=name,
                          systems=_systems(args.systems))


def _systems(text: str | None) -> tuple[int, int] | None:
    """``"5:12"`` -> ``(5, 12)`` (the range is checked by :class:`GenerateConfig`)."""
    if text is None:
        return None
    try:
        start, stop = (int(x) for x in text.split(":"))
    except ValueError:
        raise ConfigError(f"--systems {text!r}: expected START:STOP, e.g. 5:12") from None
    return start, stop


def run(args: argparse.Namespace) -> int:
    """Entry point of ``metalegnet data generate``; returns the exit code."""
    if args.list:
        return _list()
    from metalegnet.data.generate.runner import generate

    cfg = build_config(args)
    report = generate(cfg, progress=not args.no_progress)
    anomalies = ", ".join(f"{k} {v}" for k, v in sorted(report.anomalies.items())) or "none"
    print(f"{report.out}: {report.planned} trajectories planned, {report.skipped} already done, "
          f"{report.done} new, {report.failed} failed; {report.frames} frames, "
          f"{report.valid_labels} with an adsorption energy (e_ads); anomalies: {anomalies}; "
          f"{report.seconds:.1f} s")
    return 1 if report.failed else 0

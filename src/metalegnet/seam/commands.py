"""``metalegnet seam SLAB --adsorbate A --envdb ENV.db``: argument parsing only (the work is in
:func:`metalegnet.seam.run.run_seam`)."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "seam", help="ranked adsorption sites and poses on a new slab (SEAM)",
        description="Match the environment database's templates onto SLAB, place ADSORBATE "
        "in their poses, drop clashes and rank by match RMSD, template tier and the model's "
        "predicted energy. Writes OUT/proposals.extxyz (best first; slab atoms first, "
        "adsorbate tagged 2; rank and score in info), OUT/proposals.csv and OUT/seam.json.")
    p.add_argument("slab", metavar="SLAB", help="clean slab (any ASE format; last frame)")
    p.add_argument("--adsorbate", required=True, help="adsorbate name (H, O, OH, CO, NO, "
                   "CH3, ...)")
    p.add_argument("--envdb", required=True, metavar="ENV.db", help="environment database "
                   "(file or postgresql:// URL)")
    p.add_argument("--checkpoint", metavar="CKPT", help="model for the energy term (default: "
                   "the database's own checkpoint when the file exists)")
    p.add_argument("--top-k", type=int, default=5, help="proposals to keep (default 5)")
    p.add_argument("-o", "--out", required=True, metavar="OUT", help="output folder")
    p.add_argument("--max-tier", type=int, default=3, help="use templates of this tier or "
                   "better (1 best; default 3 = all)")
    p.add_argument("--strict-elements", action="store_true", help="never match templates "
                   "across elements (default: allowed, penalised, when too few sites match)")
    p.add_argument("--prior-weight", type=float, default=1.0, help="weight of the database's "
                   "site prior in the score (0 = off; default 1)")
    p.add_argument("--cover-site-types", action="store_true", help="the top k hold every "
                   "site type that has a proposal (default: score order)")
    p.add_argument("--relax", action="store_true", help="relax every proposal (BFGS)")
    p.add_argument("--calculator", default="metalegnet", help="for --relax: metalegnet "
                   "(the checkpoint), emt, or module:Class (default metalegnet)")
    p.add_argument("--fmax", type=float, default=0.05, help="relaxation fmax (eV/Å)")
    p.add_argument("--steps", type=int, default=200, help="relaxation step cap")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from metalegnet.errors import ConfigError
    from metalegnet.seam.propose import SeamConfig
    from metalegnet.seam.run import run_seam

    if args.top_k < 1:
        raise ConfigError(f"--top-k must be >= 1, got {args.top_k}")
    config = SeamConfig(top_k=args.top_k, allow_substitution=not args.strict_elements,
                        prior_weight=args.prior_weight,
                        cover_site_types=args.cover_site_types)
    summary = run_seam(args.slab, args.adsorbate, args.envdb, args.out, args.checkpoint,
                       args.top_k, args.relax, args.calculator, args.fmax, args.steps,
                       args.max_tier, config)
    print(f"{summary['proposals']} proposals from {summary['motifs']} candidate sites in "
          f"{summary['proposal_seconds']:.3f} s ({summary['registrations']} registrations, "
          f"{summary['clashes']} clashes dropped); energies: "
          f"{'model ' + str(summary['model']) if summary['model'] else 'template prior'}")
    for row in summary["rows"]:
        line = (f"  #{row['rank']} score {row['score']:.3f}  {row['site_type']:<8} "
                f"{row['site_composition']:<12} rmsd {row['rmsd']:.3f} Å  tier "
                f"{row['template_tier']}")
        if row.get("prior") is not None:
            line += f"  prior +{row['prior']:.3f} eV ({row['site_label']})"
        if row.get("energy") is not None:
            line += f"  E_pred {row['energy']:.3f} eV"
        if "relaxed_energy" in row:
            line += f"  E_relaxed {row['relaxed_energy']:.3f} eV ({row['anomalies']})"
        print(line)
    print(f"wrote {summary['extxyz']} and {summary['csv']}")
    return 0

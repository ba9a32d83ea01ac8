"""``metalegnet envdb build | query``: argument parsing only (the work is in
:mod:`metalegnet.envdb.build` and :mod:`metalegnet.envdb.query`)."""

from __future__ import annotations

import argparse
import json


def register(subparsers) -> None:
    p = subparsers.add_parser("envdb", help="adsorption-environment database (build, query)")
    sub = p.add_subparsers(dest="envdb_command", metavar="ENVDB_COMMAND", required=True)
    b = sub.add_parser(
        "build", help="extract the learned environment of every structure",
        description="Explain every structure of SRC with the model of CKPT and store its "
        "learned environment (surface frame, importances, latents, descriptors, quality "
        "tier, family) in ENV.db (ase.db: a SQLite file or a postgresql:// URL), with a "
        "FAISS index beside it. Rerunning resumes a killed build.")
    b.add_argument("checkpoint", metavar="CKPT")
    b.add_argument("--data", required=True, metavar="SRC", help="structures (file, folder, "
                   "glob or embedded data set)")
    b.add_argument("-o", "--out", required=True, metavar="ENV.db")
    b.add_argument("--frames", choices=("last", "all"), default="last",
                   help="last frame of each trajectory (default) or all frames")
    b.add_argument("--quality", choices=("full", "none"), default="full",
                   help="compute stability/overlap/faithfulness scores (default full)")
    b.add_argument("--chunk", type=int, default=32, help="structures per transaction")
    b.add_argument("--batch-size", type=int, default=16)
    b.add_argument("--dedup-rmsd", type=float, default=0.1, help="merge environments within "
                   "this RMSD after registration (Å; 0 keeps all)")
    b.add_argument("--families", type=int, default=None, help="number of families "
                   "(default round(sqrt(n/2)))")
    b.add_argument("--index", metavar="PATH", help="FAISS index file (default ENV.db.faiss)")
    b.add_argument("--limit", type=int, default=None, help="use only the first N frames")
    b.set_defaults(func=run_build)
    q = sub.add_parser("query", help="nearest stored environments of a structure",
                       description="Explain STRUCTURE and list the stored environments "
                       "whose latent search vectors are closest (cosine, FAISS).")
    q.add_argument("envdb", metavar="ENV.db")
    q.add_argument("--like", required=True, metavar="STRUCTURE")
    q.add_argument("--checkpoint", metavar="CKPT", help="default: the database's checkpoint")
    q.add_argument("-k", type=int, default=5)
    q.add_argument("--index", metavar="PATH")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(func=run_query)


def run_build(args: argparse.Namespace) -> int:
    from metalegnet.checkpoint import load_checkpoint
    from metalegnet.data.io import read_structures
    from metalegnet.envdb.build import EnvdbConfig, build_envdb
    from metalegnet.envdb.quality import QualityConfig

    model, _ = load_checkpoint(args.checkpoint)
    structures = read_structures(args.data)
    if args.limit:
        structures = structures[: args.limit]
    config = EnvdbConfig(frames=args.frames, chunk=args.chunk, batch_size=args.batch_size,
                         dedup_rmsd=args.dedup_rmsd, n_families=args.families,
                         quality=QualityConfig(mode=args.quality))

    def progress(done: int, total: int) -> None:
        print(f"  {done}/{total} structures committed", flush=True)

    report = build_envdb(model, structures, args.out, config, checkpoint=args.checkpoint,
                         index_file=args.index, progress=progress)
    print(f"{args.out}: {report.rows} environments ({report.new} new, {report.merged} merged "
          f"duplicates, {report.already_in} already in, {report.skipped} skipped without "
          f"adsorbate) in {report.families} families; index {report.index}; "
          f"{report.seconds:.1f} s")
    return 0


def run_query(args: argparse.Namespace) -> int:
    from metalegnet.checkpoint import load_checkpoint
    from metalegnet.envdb.query import query_like
    from metalegnet.envdb.store import EnvDB
    from metalegnet.errors import ConfigError
    from metalegnet.seam.run import read_slab

    ckpt = args.checkpoint or EnvDB(args.envdb, create=False).metadata.get("checkpoint")
    if not ckpt:
        raise ConfigError("pass --checkpoint (the database does not name its model)")
    model, _ = load_checkpoint(ckpt)
    hits = query_like(model, read_slab(args.like), args.envdb, args.k, args.index)
    if args.json:
        print(json.dumps(hits, indent=1))
        return 0
    print(f"{'id':>5} {'sim':>7}  {'sid':<24} {'ads':<6} {'site':<9} {'site atoms':<12} "
          f"{'tier':>4} {'fam':>4} {'E (eV)':>8}")
    for h in hits:
        e = "" if h["energy"] is None else f"{h['energy']:8.3f}"
        print(f"{h['id']:>5} {h['similarity']:7.4f}  {str(h['sid'])[:24]:<24} "
              f"{h['adsorbate']:<6} {h['site_type']:<9} {h['site_composition']:<12} "
              f"{h['tier']:>4} {h['family']:>4} {e:>8}")
    return 0

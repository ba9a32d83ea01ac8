"""``metalegnet data convert`` and ``metalegnet data info``.

SRC is a file, folder, glob, LMDB store or embedded data-set name (e.g. ``oc20-mini``).
"""

from __future__ import annotations

import argparse

_SRC_HELP = "structure file, folder, glob, LMDB store or embedded data set name"


def register(subparsers) -> None:
    """Add the ``convert`` and ``info`` parsers to the ``metalegnet data`` group."""
    p = subparsers.add_parser("convert", help="validate structures and write an LMDB store",
                              description="Validate every structure of SRC and write them to "
                                          "the LMDB store DST (written atomically).")
    p.add_argument("src", metavar="SRC", help=_SRC_HELP)
    p.add_argument("dst", metavar="DST", help="output LMDB store (a folder, e.g. train.lmdb)")
    p.add_argument("--index", default=":",
                   help="frames to take within each file, ASE style (default ':' = all)")
    p.add_argument("--min-distance", type=float, default=0.5,
                   help="smallest allowed interatomic distance in Å (default 0.5)")
    p.add_argument("--overwrite", action="store_true", help="replace DST if it exists")
    p.set_defaults(func=_convert)

    p = subparsers.add_parser("info", help="summarise a data set",
                              description="Print counts, elements and label ranges of SRC.")
    p.add_argument("src", metavar="SRC", help=_SRC_HELP)
    p.add_argument("--index", default=":",
                   help="frames to take within each file, ASE style (default ':' = all)")
    p.add_argument("--energy-key", default=None,
                   help="info key of the adsorption energy (default: e_ads, then eads_real)")
    p.add_argument("--validate", action="store_true",
                   help="also check every structure (overlaps, NaN, cell, elements)")
    p.set_defaults(func=_info)


def _convert(args: argparse.Namespace) -> int:
    from metalegnet.data.store import convert

    count = convert(args.src, args.dst, index=args.index, min_distance=args.min_distance,
                    overwrite=args.overwrite)
    print(f"wrote {count} structures to {args.dst}")
    return 0


def _info(args: argparse.Namespace) -> int:
    from metalegnet.data.io import read_structures
    from metalegnet.data.summary import format_summary, summarize
    from metalegnet.data.validate import validate_structures

    structures = read_structures(args.src, index=args.index)
    if args.validate:
        validate_structures(structures, energy_key=args.energy_key)
    print(f"{args.src}")
    print(format_summary(summarize(structures, energy_key=args.energy_key)))
    if args.validate:
        print("all structures passed validation")
    return 0

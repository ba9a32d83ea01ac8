"""The one ``metalegnet`` command. It only wires sub-commands to library functions.

Each sub-command module exposes ``register(subparsers)``, which adds its parser(s) and sets
``func`` (called with the parsed ``argparse.Namespace``; returns an exit code or ``None``).
Errors derived from :class:`metalegnet.errors.MetaLegNetError` are printed as one line.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from metalegnet.errors import MetaLegNetError, MetaLegNetWarning

#: (parent command or None, module with ``register``) in the order they appear in ``--help``.
_DATA_COMMANDS = ("metalegnet.data.commands", "metalegnet.data.generate.commands")
_TOP_COMMANDS = ("metalegnet.train.commands", "metalegnet.meta.commands",
                 "metalegnet.explain.commands", "metalegnet.envdb.commands",
                 "metalegnet.seam.commands", "metalegnet.demo", "metalegnet.bench.commands")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="metalegnet",
        description="Meta-LegNet: equivariant multiscale graph learning of adsorption energies.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    data = sub.add_parser("data", help="read, inspect, convert and generate data sets")
    dsub = data.add_subparsers(dest="data_command", metavar="DATA_COMMAND", required=True)
    for name in _DATA_COMMANDS:
        _register(name, dsub)
    for name in _TOP_COMMANDS:
        _register(name, sub)
    return parser


def _register(module_name: str, subparsers) -> None:
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:  # an optional part that is not installed
        if exc.name and module_name.startswith(exc.name):
            return
        raise
    module.register(subparsers)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Our warnings as one line; everything else as Python shows it."""
    if issubclass(category, MetaLegNetWarning):
        print(f"metalegnet: warning: {message}", file=sys.stderr)
    else:
        _python_showwarning(message, category, filename, lineno, file, line)


_python_showwarning = warnings.showwarning


def main(argv: list[str] | None = None) -> int:
    warnings.showwarning = _show_warning
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
    except MetaLegNetError as exc:
        print(f"metalegnet: error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"metalegnet: error: {exc.filename or exc}: no such file or directory",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("metalegnet: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

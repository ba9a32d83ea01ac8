"""Physics oracles that label generated structures: ASE EMT, SevenNet-0 and CHGNet 0.3.0.

An oracle is an ASE calculator plus what the manifest needs to reproduce it (name, version,
settings) and the set of elements it covers. The ML oracles come with the optional extra
``metalegnet[oracle]`` (``pip install 'metalegnet[oracle]'``); their weights ship inside the
PyPI wheels and load offline. Energies are total energies in eV, forces in eV/Å.
"""

from __future__ import annotations

import importlib
import importlib.util
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ase.calculators.calculator import Calculator
from ase.data import chemical_symbols

from metalegnet.errors import ConfigError, MetaLegNetError


class OracleError(MetaLegNetError):
    """An oracle cannot be used: it is unknown, not installed, or lacks elements."""


@dataclass
class Oracle:
    """A loaded oracle.

    Attributes:
        name: ``emt``, ``sevennet`` or ``chgnet``.
        version: package and model version string written into the manifest.
        elements: chemical symbols the oracle covers.
        substrate_elements: symbols it can use in a substrate (EMT: its fcc metals only; its
            H, C, N, O parameters are meant for adsorbates).
        calculator: the ASE calculator (energy in eV, forces in eV/Å).
        settings: JSON-able settings (model name, device, dtype).
    """

    name: str
    version: str
    elements: frozenset[str]
    calculator: Calculator
    settings: dict = field(default_factory=dict)
    substrate_elements: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if self.substrate_elements is None:
            self.substrate_elements = self.elements

    def missing(self, symbols: Iterable[str]) -> list[str]:
        """The symbols among ``symbols`` this oracle does not cover, sorted by atomic number."""
        from ase.data import atomic_numbers

        return sorted(set(symbols) - self.elements, key=lambda s: atomic_numbers[s])

    def require(self, symbols: Iterable[str], what: str) -> None:
        """Raise :class:`OracleError` naming the elements of ``what`` this oracle lacks."""
        missing = self.missing(symbols)
        if missing:
            raise OracleError(
                f"oracle {self.name!r} lacks {', '.join(missing)} needed by {what} "
                f"({self.name} covers {describe_elements(self.elements)})")


def describe_elements(elements: Iterable[str]) -> str:
    """A short description of an element set: the symbols, or a count when it is large."""
    from ase.data import atomic_numbers

    els = sorted(elements, key=lambda s: atomic_numbers[s])
    if len(els) <= 20:
        return ", ".join(els)
    return f"{len(els)} elements from {els[0]} to {els[-1]}"


def _import(module: str, oracle: str, package: str):
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise OracleError(
            f"oracle {oracle!r} needs the Python package {package!r}, which is not installed "
            f"({exc}); install the optional extra: pip install 'metalegnet[oracle]'") from None


def _load_emt(device: str) -> Oracle:
    import ase
    from ase.calculators.emt import EMT, parameters

    elements = frozenset(parameters)
    return Oracle("emt", f"ase {ase.__version__} EMT", elements, EMT(),
                  {"calculator": "ase.calculators.emt.EMT"},
                  substrate_elements=elements - {"H", "C", "N", "O"})


def _load_sevennet(device: str) -> Oracle:
    sevenn = _import("sevenn", "sevennet", "sevenn")
    calc_mod = _import("sevenn.calculator", "sevennet", "sevenn")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        calc = calc_mod.SevenNetCalculator("7net-0", device=device)
    elements = frozenset(chemical_symbols[int(z)] for z in calc.type_map)
    return Oracle("sevennet", f"sevenn {sevenn.__version__}, model SevenNet-0 (7net-0)",
                  elements, calc, {"model": "7net-0", "device": device})


def _load_chgnet(device: str) -> Oracle:
    chgnet = _import("chgnet", "chgnet", "chgnet")
    model_mod = _import("chgnet.model", "chgnet", "chgnet")
    dyn = _import("chgnet.model.dynamics", "chgnet", "chgnet")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = model_mod.CHGNet.load(model_name="0.3.0", verbose=False)
        calc = dyn.CHGNetCalculator(model=model, use_device=device, on_isolated_atoms="ignore")
    n_types = int(model.composition_model.fc.weight.shape[1])  # atomic numbers 1..n_types
    elements = frozenset(chemical_symbols[z] for z in range(1, n_types + 1))
    return Oracle("chgnet", f"chgnet {chgnet.__version__}, model CHGNet {model.version}",
                  elements, calc, {"model": "0.3.0", "device": device})


#: Loader of each oracle by name.
ORACLES: dict[str, Callable[[str], Oracle]] = {
    "emt": _load_emt,
    "sevennet": _load_sevennet,
    "chgnet": _load_chgnet,
}


def load_oracle(name: str, device: str = "cpu") -> Oracle:
    """Load the oracle ``name`` on ``device`` (``cpu`` or ``cuda``).

    Raises:
        ConfigError: the name is not an oracle.
        OracleError: its package (the ``oracle`` extra) is not installed.
    """
    try:
        loader = ORACLES[name]
    except KeyError:
        raise ConfigError(f"unknown oracle {name!r}; choose one of {', '.join(ORACLES)}") from None
    return loader(device)


def oracle_available(name: str) -> bool:
    """Whether the packages the oracle needs are importable (without loading a model)."""
    module = {"emt": "ase", "sevennet": "sevenn", "chgnet": "chgnet"}[name]
    return importlib.util.find_spec(module) is not None

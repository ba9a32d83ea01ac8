"""Meta-LegNet: SE(3)-equivariant multiscale graph learning of adsorption environments.

Public names (stable): ``LegNet``, ``LegNetConfig``, ``MetaLegNetCalculator``.
"""

from metalegnet.model import LegNet, LegNetConfig, LegNetOutput

__version__ = "0.1.0"


def __getattr__(name):  # lazy: the calculator pulls in ASE's calculator machinery
    if name == "MetaLegNetCalculator":
        from metalegnet.calculator import MetaLegNetCalculator

        return MetaLegNetCalculator
    raise AttributeError(name)


__all__ = ["LegNet", "LegNetConfig", "LegNetOutput", "MetaLegNetCalculator", "__version__"]

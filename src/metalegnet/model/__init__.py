"""Model package: LegNet and its building blocks."""

from metalegnet.model.config import LegNetConfig
from metalegnet.model.legnet import LegNet, LegNetOutput

__all__ = ["LegNet", "LegNetConfig", "LegNetOutput"]

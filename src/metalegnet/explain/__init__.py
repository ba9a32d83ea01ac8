"""Explanations: per-atom importance maps of the adsorption environment."""

from metalegnet.explain.attribution import importance

__all__ = ["importance"]

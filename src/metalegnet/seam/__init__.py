"""SEAM: ranked adsorption sites and poses on a new surface by matching learned environments.

``seam(slab, "CO", templates, model)`` -> :class:`SeamResult` with ranked :class:`Proposal`
objects (ready-to-relax ASE structures). Templates are
:class:`~metalegnet.surface.environment.LocalEnvironment` objects, usually read from an
environment database (:func:`metalegnet.envdb.load_templates`).
"""

from metalegnet.seam.propose import Proposal, SeamConfig, SeamResult, seam
from metalegnet.surface.registration import Registration, RegistrationConfig, register

__all__ = ["Proposal", "Registration", "RegistrationConfig", "SeamConfig", "SeamResult",
           "register", "seam"]

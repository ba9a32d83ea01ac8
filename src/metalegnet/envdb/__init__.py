"""Adsorption-environment database (paper §3.6): learned environments of every structure,
with importances, latents, descriptors, quality tiers, families and a FAISS index.

``build_envdb(model, structures, "ENV.db")`` builds or resumes one; ``EnvDB("ENV.db")``
reads it (``templates()`` gives SEAM its templates); :func:`query_like` finds the
environments nearest to a structure's.
"""

from metalegnet.envdb.build import BuildReport, EnvdbConfig, build_envdb
from metalegnet.envdb.quality import QualityConfig, quality_tier
from metalegnet.envdb.query import query_like
from metalegnet.envdb.store import EnvDB, row_to_environment


def load_templates(target: str, max_tier: int = 3):
    """Every environment of the database at ``target`` as a SEAM template."""
    return EnvDB(target, create=False).templates(max_tier)


def load_site_prior(target: str):
    """The site prior stored in the database at ``target`` (None when it has none)."""
    return EnvDB(target, create=False).site_prior()


__all__ = ["BuildReport", "EnvDB", "EnvdbConfig", "QualityConfig", "build_envdb",
           "load_site_prior", "load_templates", "query_like", "quality_tier", "row_to_environment"]

"""Explanations: per-atom importance maps and learned adsorption environments (paper §3.5).

``attribution`` (eq. 31), ``environment`` (Otsu segmentation, eq. 32; ``explain_structures``),
``references`` (cutoff / size-matched kNN), ``faithfulness`` (masking), ``stability``,
``pictures`` / ``figures`` / ``report`` (PNGs, summary figures, report.html) and ``commands``
(``metalegnet explain``).
"""

from metalegnet.explain.attribution import importance
from metalegnet.explain.environment import (
    AdsorptionEnvironment,
    Explanation,
    explain_structures,
    otsu_environment,
)

__all__ = ["AdsorptionEnvironment", "Explanation", "explain_structures", "importance",
           "otsu_environment"]

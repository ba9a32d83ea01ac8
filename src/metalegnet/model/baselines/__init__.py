"""Baseline models from maintained libraries, with thin adapters that make each a drop-in for
:class:`~metalegnet.model.LegNet` in our trainer (same ``forward(graph, compute_forces)``, same
:class:`~metalegnet.model.LegNetOutput`, same energy normalisation buffers).

=============  =====================================================  ========================
name           library model                                          needs
=============  =====================================================  ========================
``schnet``     ``torch_geometric.nn.models.SchNet``                   ``metalegnet[baselines]``
``dimenet++``  ``torch_geometric.nn.models.DimeNetPlusPlus``          ``metalegnet[baselines]``
``cgcnn``      ``torch_geometric.nn.CGConv`` in CGCNN's arrangement   ``metalegnet[baselines]``
``painn``      ``schnetpack.representation.PaiNN`` + ``Atomwise``     schnetpack, see ``painn``
``gemnet-dt``  none runs here (see :data:`UNAVAILABLE`)               --
``comenet``    none runs here (see :data:`UNAVAILABLE`)               --
=============  =====================================================  ========================

Every adapter feeds the library model our periodic edges (``AtomicGraph.edge_index`` with image
shifts) instead of the library's radius graph, so no torch-cluster / torch-sparse / pyg-lib is
needed, and predicts forces as -dE/dx. Library imports happen when a model is built, so
``import metalegnet`` never needs the extras.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from metalegnet.config import from_dict
from metalegnet.errors import ConfigError
from metalegnet.model.baselines.base import (
    BaselineModel,
    BaselineUnavailableError,
    PeriodicEdges,
)
from metalegnet.model.baselines.cgcnn import CGCNNBaseline, CGCNNConfig
from metalegnet.model.baselines.dimenet import (
    DimeNetPPBaseline,
    DimeNetPPConfig,
    periodic_triplets,
)
from metalegnet.model.baselines.painn import PaiNNBaseline, PaiNNConfig
from metalegnet.model.baselines.schnet import SchNetBaseline, SchNetConfig

#: name -> (model class, config class) of every baseline with an adapter
BASELINES: dict[str, tuple[type[BaselineModel], type]] = {
    "schnet": (SchNetBaseline, SchNetConfig),
    "dimenet++": (DimeNetPPBaseline, DimeNetPPConfig),
    "cgcnn": (CGCNNBaseline, CGCNNConfig),
    "painn": (PaiNNBaseline, PaiNNConfig),
}

#: baselines of the paper's Table 1 that no maintained implementation can run here, and why
UNAVAILABLE: dict[str, str] = {
    "gemnet-dt": (
        "no maintained GemNet-dT runs with current torch without torch-scatter/torch-sparse: "
        "fairchem-core 2.x dropped GemNet, and fairchem-core 1.10 (its last home) pins "
        "torch~=2.4.0 and numpy<2 and imports torch_scatter and torch_sparse.SparseTensor at "
        "module level (models/gemnet/gemnet.py, utils.py); PyG has no GemNet"),
    "comenet": (
        "no maintained ComENet runs without torch-cluster/torch-scatter: PyG has none, and "
        "DIG (dive-into-graphs 1.1.0, April 2023, the reference implementation) imports "
        "torch_cluster.radius_graph and torch_scatter.scatter_min at module level "
        "(dig/threedgraph/method/comenet/comenet.py) and pins captum==0.2.0"),
}


def _lookup(name: str) -> tuple[type[BaselineModel], type]:
    key = name.lower()
    if key in UNAVAILABLE:
        raise BaselineUnavailableError(f"baseline {name!r} is not available: {UNAVAILABLE[key]}")
    if key not in BASELINES:
        raise ConfigError(f"unknown baseline {name!r}; choose one of "
                          f"{', '.join(BASELINES)} (unavailable here: {', '.join(UNAVAILABLE)})")
    return BASELINES[key]


def baseline_config(name: str, **overrides: Any):
    """The config dataclass of baseline ``name`` with ``overrides`` (unknown keys: error)."""
    _, config_cls = _lookup(name)
    return from_dict(config_cls, overrides)


def build_baseline(name: str, config: dict[str, Any] | Any | None = None) -> BaselineModel:
    """Instantiate baseline ``name`` from its config (a dict, its dataclass, or None)."""
    model_cls, config_cls = _lookup(name)
    if config is None or isinstance(config, dict):
        config = from_dict(config_cls, config)
    elif not isinstance(config, config_cls):
        raise ConfigError(f"baseline {name!r} takes a {config_cls.__name__}, got "
                          f"{type(config).__name__}")
    return model_cls(dataclasses.replace(config))


__all__ = [
    "BASELINES",
    "UNAVAILABLE",
    "BaselineModel",
    "BaselineUnavailableError",
    "CGCNNBaseline",
    "CGCNNConfig",
    "DimeNetPPBaseline",
    "DimeNetPPConfig",
    "PaiNNBaseline",
    "PaiNNConfig",
    "PeriodicEdges",
    "SchNetBaseline",
    "SchNetConfig",
    "baseline_config",
    "build_baseline",
    "periodic_triplets",
]

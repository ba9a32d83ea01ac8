"""Checkpoints: state_dict (with the energy normalisation, stored once there) + JSON-able
config + metadata, written atomically and read with ``torch.load(weights_only=True)`` (no
pickled modules)."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import torch

from metalegnet.config import atomic_write_bytes, from_dict, to_dict
from metalegnet.errors import CheckpointError
from metalegnet.model.normalization import legacy_state_dict

FORMAT = "metalegnet-checkpoint-v1"


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` written atomically (complete file or none; see ``atomic_write_bytes``)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def model_payload(model: torch.nn.Module, model_name: str = "legnet",
                  metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """The checkpoint dict of ``model`` (weights on CPU)."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return {
        "format": FORMAT,
        "model_name": model_name,
        "config": to_dict(model.config),
        "state_dict": state,  # holds the energy normalisation (model.normalization) once
        "metadata": dict(metadata or {}),
    }


def save_checkpoint(path: str | os.PathLike, model: torch.nn.Module, model_name: str = "legnet",
                    metadata: dict[str, Any] | None = None, **extra: Any) -> None:
    """Write a model checkpoint; ``extra`` entries (e.g. optimizer state) are stored alongside."""
    payload = model_payload(model, model_name, metadata)
    payload.update(extra)
    atomic_torch_save(payload, path)


#: key -> (type, what it is) every checkpoint must hold; ``metadata`` is optional
_REQUIRED = {"model_name": (str, "a str"), "config": (dict, "a dict"),
             "state_dict": (dict, "a dict of tensors")}


def _payload_problem(payload: dict[str, Any]) -> str | None:
    """What is missing or mistyped in a checkpoint dict (one phrase), or ``None``."""
    for key, (tp, what) in _REQUIRED.items():
        if key not in payload:
            return f"missing key {key!r}"
        if not isinstance(payload[key], tp):
            return f"{key!r} is a {type(payload[key]).__name__}, expected {what}"
    bad = [k for k, v in payload["state_dict"].items() if not isinstance(v, torch.Tensor)]
    if bad:
        return f"'state_dict' entry {bad[0]!r} is not a tensor"
    meta = payload.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        return f"'metadata' is a {type(meta).__name__}, expected a dict"
    return None


def read_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu"
                    ) -> dict[str, Any]:
    """The raw checkpoint dict (safe loading), checked to hold ``model_name`` (str),
    ``config`` (dict) and ``state_dict`` (dict of tensors)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # corrupt file, pickle of a module, ...
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(exc).__name__})") \
            from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a {FORMAT} file")
    problem = _payload_problem(payload)
    if problem:
        raise CheckpointError(f"{path}: incomplete checkpoint: {problem}")
    return payload


def build_model(model_name: str, config: dict[str, Any]) -> torch.nn.Module:
    """Instantiate a registered model from its name and config dict."""
    if model_name.startswith("legnet"):
        from metalegnet.model import LegNet, LegNetConfig

        return LegNet(from_dict(LegNetConfig, config))
    try:
        from metalegnet.model.baselines import build_baseline
    except ImportError as exc:
        raise CheckpointError(f"model {model_name!r} needs the baselines extra ({exc})") from None
    return build_baseline(model_name, config)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu"
                    ) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild the model of a checkpoint and load its weights; returns ``(model, payload)``."""
    payload = read_checkpoint(path, map_location)
    model = build_model(payload["model_name"], payload["config"])
    try:
        model.load_state_dict(legacy_state_dict(payload["state_dict"]))
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise CheckpointError(f"{path}: weights do not match the config ({first})") from None
    model.to(map_location)
    model.eval()
    return model, payload

"""Errors that reach users as one clear line (the CLI prints them without a traceback)."""

from __future__ import annotations


class MetaLegNetError(Exception):
    """Base class of every error the CLI reports as a single line."""


class DataError(MetaLegNetError, ValueError):
    """A structure or data source is unusable.

    The message names the file, the structure (index and/or ``sid``) and the problem, e.g.
    ``oc20.extxyz [index 3, sid=random1000100]: NaN in positions``.
    """

    def __init__(self, problem: str, source: str | None = None, index: int | None = None,
                 sid: str | None = None) -> None:
        self.problem = problem
        self.source = source
        self.index = index
        self.sid = sid
        where = []
        if index is not None:
            where.append(f"index {index}")
        if sid is not None:
            where.append(f"sid={sid}")
        prefix = source if source is not None else "<structure>"
        if where:
            prefix += f" [{', '.join(where)}]"
        super().__init__(f"{prefix}: {problem}")


class ConfigError(MetaLegNetError, ValueError):
    """A configuration value or key is invalid (unknown keys are an error)."""


class CheckpointError(MetaLegNetError, ValueError):
    """A checkpoint file cannot be read or does not match the model."""


class MetaLegNetWarning(UserWarning):
    """A warning the CLI prints as one line (``metalegnet: warning: ...``)."""


class UnseenElementWarning(MetaLegNetWarning):
    """A structure holds an element the model never saw in training."""

"""One BLAS/OpenMP thread per worker process.

Spawned children read these variables when numpy and torch load; N workers x N threads on N
cores is several times slower than N x 1, and thread count can change floating-point paths.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@contextlib.contextmanager
def single_threaded_children(force: bool = True) -> Iterator[None]:
    """Set the thread variables to 1 while workers are spawned (``force=False`` keeps values
    the user set), then restore them."""
    saved = {k: os.environ.get(k) for k in THREAD_VARS}
    for k in THREAD_VARS:
        if force:
            os.environ[k] = "1"
        else:
            os.environ.setdefault(k, "1")
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

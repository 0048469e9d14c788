"""The one way to run a block with a given number of torch intra-op threads."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from .errors import ParameterError


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run with ``n`` torch threads (None: leave the setting alone), restoring it afterwards."""
    if n is None:
        yield
        return
    if n < 1:
        raise ParameterError(f"threads must be >= 1, got {n}")
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)

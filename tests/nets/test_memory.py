"""The allocator policy helper: applies on glibc, and large allocations still work afterwards."""

from __future__ import annotations

import platform

import numpy as np
import pytest

from sdpic.nets.memory import reuse_freed_memory


def test_reuse_freed_memory_on_glibc() -> None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt policy is glibc-specific")
    assert reuse_freed_memory() is True
    assert reuse_freed_memory() is True  # idempotent
    for _ in range(3):  # 64 MB blocks now come from the heap and are reused, contents intact
        a = np.ones(16 * 2**20, dtype=np.float32)
        assert float(a[::4096].sum()) == 4096.0
        del a

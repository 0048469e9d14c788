"""Memory-allocator policy for processes that run the networks on the CPU (bench workers, training loops).

Activations of the networks are large (a 768x512 image through the metric's backbone: tens of MB per
tensor), larger than glibc's biggest mmap threshold (32 MB). By default glibc serves each of them with a
fresh mmap, whose pages the kernel zeroes on first touch, and unmaps it on free, so every forward and
backward pass pays page faults for all its memory again. Measured with the first perceptual metric
(MobileNetV2 features): 41 s of system time against 22 s of compute for 72 metric evaluations on Kodak
images, and its forward+backward (batch 8, 256x256) went from 0.56 to 0.40 s per step in an interleaved
A/B run; ``benchmarks/metric_speed.py --reuse-freed-memory`` measures today's metrics both ways.
"""

from __future__ import annotations

import ctypes
import ctypes.util

#: <malloc.h> parameter numbers of mallopt().
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4


def reuse_freed_memory() -> bool:
    """Ask glibc to serve large blocks from the heap and to keep freed memory for reuse by this process.

    A process-wide setting: call it in a process that owns its allocation pattern (a benchmark, a worker,
    a training run), not from library code. The price is that memory freed by the process is not returned to
    the operating system until it exits. Returns False where it does not apply (a libc without mallopt).
    """
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        return bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
    except (OSError, AttributeError):  # musl or another libc without mallopt
        return False

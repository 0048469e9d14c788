"""The quality measures the bench reports, behind one adapter so a missing piece becomes a null column.

``psnr`` and ``ms_ssim`` come from :mod:`sdpic.metric.classic` when it exists (so the bench and the
training code agree on definitions). Until then MS-SSIM uses a local reference implementation of
Wang et al. 2003 (5 scales, 11-tap Gaussian sigma 1.5, the usual weights, as in ``pytorch_msssim``);
the JSON records which one ran. The deep metric (``percep`` / ``percep_eval``) and the learned saliency
map are only ever taken from the project's own modules; when those are not importable the columns are
None and the reason is recorded, never replaced by an ad-hoc stand-in.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np

#: Every per-point quality column, in report order.
QUALITY_METRICS = ("psnr", "ms_ssim", "percep", "percep_eval", "psnr_salient")
EVAL_BACKBONE = "efficientnet_lite0"


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


_MS_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def ms_ssim_local(ref: np.ndarray, img: np.ndarray) -> float | None:
    """Reference MS-SSIM on RGB (mean over channels), or None when the image is too small for 5 scales.

    Channels and the five moments to blur are stacked as 15 channels of one float32 depthwise
    convolution per direction and scale (float64 or per-channel calls were 10x slower on CPU).
    """
    import torch
    import torch.nn.functional as F

    if min(ref.shape[:2]) <= (11 - 1) * 2**4:  # the coarsest scale must still hold an 11-tap window
        return None
    x = torch.from_numpy(ref.astype(np.float32) / 255.0).permute(2, 0, 1)[:, None]  # (3, 1, H, W)
    y = torch.from_numpy(img.astype(np.float32) / 255.0).permute(2, 0, 1)[:, None]
    coords = torch.arange(11, dtype=torch.float32) - 5.0
    g = torch.exp(-(coords**2) / (2 * 1.5**2))
    g = g / g.sum()
    gh, gv = g.view(1, 1, 1, 11).repeat(15, 1, 1, 1), g.view(1, 1, 11, 1).repeat(15, 1, 1, 1)
    c1, c2 = 0.01**2, 0.03**2
    values = []
    with torch.no_grad():
        for level in range(5):
            stack = torch.cat([x, y, x * x, y * y, x * y], dim=0).transpose(0, 1)  # (1, 15, H, W)
            blurred = F.conv2d(F.conv2d(stack, gh, groups=15), gv, groups=15).transpose(0, 1)
            mu_x, mu_y, exx, eyy, exy = blurred.split(3, dim=0)
            sxx, syy, sxy = exx - mu_x**2, eyy - mu_y**2, exy - mu_x * mu_y
            cs = (2 * sxy + c2) / (sxx + syy + c2)
            if level < 4:
                values.append(torch.relu(cs.mean(dim=(1, 2, 3))).double())
                pad = (0, x.shape[3] % 2, 0, x.shape[2] % 2)
                x = F.avg_pool2d(F.pad(x, pad, mode="replicate"), 2)
                y = F.avg_pool2d(F.pad(y, pad, mode="replicate"), 2)
            else:
                ssim = ((2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)) * cs
                values.append(torch.relu(ssim.mean(dim=(1, 2, 3))).double())
    weights = torch.tensor(_MS_WEIGHTS, dtype=torch.float64).view(-1, 1)
    per_channel = torch.prod(torch.stack(values, dim=0) ** weights, dim=0)  # (3,)
    return float(per_channel.mean())


class MetricSuite:
    """Computes every quality column for one (reference, decoded) pair; loads the deep models once.

    ``sources`` says which implementation produced each column (or why it is None), for the JSON.
    """

    def __init__(self, want_percep: bool = True) -> None:
        self.sources: dict[str, str] = {"psnr": "sdpic.bench.metrics.psnr (RGB, peak 255)"}
        self._ms_ssim_batch: Callable[..., object] | None = None
        self._ms_ssim = self._find_ms_ssim()
        self._distance = self._find_distance() if want_percep else None
        if not want_percep:
            self.sources["percep"] = self.sources["percep_eval"] = "not requested"

    def _find_ms_ssim(self) -> Callable[[np.ndarray, np.ndarray], float | None]:
        try:
            classic = importlib.import_module("sdpic.metric.classic")
            fn = classic.ms_ssim
        except (ImportError, AttributeError) as exc:
            self.sources["ms_ssim"] = f"local fallback sdpic.bench.metrics.ms_ssim_local (sdpic.metric.classic: {exc})"
            return ms_ssim_local
        self.sources["ms_ssim"] = "sdpic.metric.classic.ms_ssim"
        self._ms_ssim_batch = fn
        return lambda ref, img: self.compute_batch(ref, [img], None)[0]["ms_ssim"]

    def _find_distance(self) -> Callable[..., float] | None:
        try:
            metric = importlib.import_module("sdpic.metric")
            fn = metric.distance
        except (ImportError, AttributeError) as exc:
            reason = f"null: sdpic.metric.distance is not available yet ({exc})"
            self.sources["percep"] = self.sources["percep_eval"] = reason
            return None
        self.sources["percep"] = "sdpic.metric.distance (default backbone)"
        self.sources["percep_eval"] = f"sdpic.metric.distance (backbone={EVAL_BACKBONE})"
        return fn

    def compute(self, ref: np.ndarray, img: np.ndarray, salient: np.ndarray | None) -> dict[str, float | None]:
        """All quality columns for one pair (see :meth:`compute_batch`)."""
        return self.compute_batch(ref, [img], salient)[0]

    def compute_batch(
        self, ref: np.ndarray, imgs: list[np.ndarray], salient: np.ndarray | None
    ) -> list[dict[str, float | None]]:
        """All quality columns for several decodings of one reference (one codec's sweep).

        The deep metric and MS-SSIM run as one batch: on CPU that is ~2.4x cheaper per image than one
        call per pair (measured for the MobileNetV2 distance on Kodak). A failing optional metric
        becomes None and the reason goes to ``sources``.
        """
        import torch

        outs: list[dict[str, float | None]] = []
        for img in imgs:
            outs.append(
                {
                    "psnr": psnr(ref, img),
                    "ms_ssim": None,
                    "percep": None,
                    "percep_eval": None,
                    "psnr_salient": psnr_masked(ref, img, salient) if salient is not None else None,
                }
            )
        need_tensors = self._ms_ssim_batch is not None or self._distance is not None
        if need_tensors:
            ref_t = torch.from_numpy(ref.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
            img_t = torch.stack([torch.from_numpy(i.astype(np.float32) / 255.0).permute(2, 0, 1) for i in imgs])
            refs = ref_t.expand(len(imgs), -1, -1, -1)
        with torch.no_grad():
            if self._ms_ssim_batch is not None:
                if min(ref.shape[:2]) <= (11 - 1) * 2**4:
                    pass  # fewer than 5 scales: not comparable with published MS-SSIM, leave None
                else:
                    values = self._ms_ssim_batch(refs, img_t)
                    for o, v in zip(outs, values.tolist(), strict=True):
                        o["ms_ssim"] = float(v)
            else:
                for o, img in zip(outs, imgs, strict=True):
                    o["ms_ssim"] = ms_ssim_local(ref, img)
            if self._distance is not None:
                for col, backbone in (("percep", None), ("percep_eval", EVAL_BACKBONE)):
                    try:
                        values = self._distance(refs, img_t, backbone=backbone)
                        for o, v in zip(outs, values.reshape(-1).tolist(), strict=True):
                            o[col] = float(v)
                    except Exception as exc:  # keep the run going; say why the column is empty
                        self.sources[col] = f"null: sdpic.metric.distance failed ({type(exc).__name__}: {exc})"
        return outs


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


@functools.lru_cache(maxsize=1)
def metrics_signature() -> str:
    """A hash of the metric and saliency code + weights, so cached metric values expire when they change."""
    h = hashlib.sha256()
    h.update(Path(__file__).read_bytes())
    for pkg in ("sdpic.metric", "sdpic.saliency"):
        try:
            spec = importlib.util.find_spec(pkg)
        except (ImportError, ValueError):
            spec = None
        if spec is None or not spec.submodule_search_locations:
            h.update(f"{pkg}:absent".encode())
            continue
        for root in spec.submodule_search_locations:
            for f in sorted(Path(root).rglob("*")):
                if f.is_file() and f.suffix in (".py", ".safetensors", ".pt", ".pth", ".json"):
                    st = f.stat()
                    h.update(f"{f.relative_to(root)}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]

"""Classical (weight-free) saliency baselines.

* **HC** and **RC**, the global-contrast methods of Cheng et al., "Global contrast based salient region
  detection" (CVPR 2011), implemented here from the paper: a pixel (HC) or a region (RC) is salient when
  its colour differs from the colours of the rest of the image, weighted by how often those colours occur
  (HC) or by how big and how near the other regions are (RC).
* **spectral** (Hou & Zhang 2007, spectral residual) and **finegrained** (Montabone & Soto 2010) static
  saliency from OpenCV's contrib module (``cv2.saliency``).

They are baselines: the learned model is the default because it is far more accurate (see results/).
All of them work on a copy of the image whose longer side is at most :data:`WORK_SIDE` pixels (the
methods are global, and this bounds the cost on large photos) and return a map in [0, 1] at image size.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

#: Longest side the classical methods work at; maps are resized back to the image size.
WORK_SIDE = 400
#: Images smaller than this on a side are enlarged (nearest neighbour) first: the methods need some pixels.
MIN_SIDE = 16
#: Quantisation levels per RGB channel (12^3 = 1728 colours, as in the paper).
LEVELS = 12
#: Fraction of pixels the kept colours must cover; rarer colours are merged into their nearest kept one.
COVERAGE = 0.95


def _work_copy(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    scale = min(1.0, WORK_SIDE / max(h, w))
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    if min(nh, nw) < MIN_SIDE:
        up = MIN_SIDE / min(nh, nw)
        nh, nw = max(MIN_SIDE, round(nh * up)), max(MIN_SIDE, round(nw * up))
        return np.asarray(Image.fromarray(rgb).resize((nw, nh), Image.NEAREST))
    if (nh, nw) != (h, w):
        return np.asarray(Image.fromarray(rgb).resize((nw, nh), Image.BOX))
    return rgb


def _to_image_size(sal: np.ndarray, h: int, w: int) -> np.ndarray:
    sal = _normalise(sal)
    if sal.shape != (h, w):
        sal = np.asarray(Image.fromarray(sal.astype(np.float32), mode="F").resize((w, h), Image.BILINEAR))
    return np.clip(sal, 0.0, 1.0).astype(np.float32)


def _normalise(sal: np.ndarray) -> np.ndarray:
    """Min-max to [0, 1]; a constant map (nothing stands out) becomes all zeros."""
    sal = sal.astype(np.float64)
    lo, hi = float(sal.min()), float(sal.max())
    if not np.isfinite(lo) or not np.isfinite(hi) or hi - lo < 1e-12:
        return np.zeros(sal.shape, np.float32)
    return ((sal - lo) / (hi - lo)).astype(np.float32)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB (uint8 or float in [0, 255]) -> CIE L*a*b* (D65), any leading shape; float64."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    m = np.array(
        [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]]
    )
    xyz = c @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    L = 116 * f[..., 1] - 16
    a = 500 * (f[..., 0] - f[..., 1])
    b = 200 * (f[..., 1] - f[..., 2])
    return np.stack([L, a, b], axis=-1)


def quantise(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quantise to 12 levels per channel and keep the most frequent colours covering 95 % of the pixels.

    Returns ``(index map HxW into the kept colours, Lab colour of each kept colour (n, 3), frequency (n,))``.
    The Lab colour of a bin is the mean Lab of the pixels it receives, as in Cheng's implementation.
    """
    h, w = rgb.shape[:2]
    q = (rgb.astype(np.int32) * LEVELS) // 256
    codes = (q[..., 0] * LEVELS + q[..., 1]) * LEVELS + q[..., 2]
    flat = codes.ravel()
    uniq, inverse, counts = np.unique(flat, return_inverse=True, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    cum = np.cumsum(counts[order])
    n_keep = int(np.searchsorted(cum, COVERAGE * flat.size) + 1)
    n_keep = max(1, min(n_keep, len(uniq)))
    kept = order[:n_keep]
    # map every unique colour to its nearest kept colour (in the quantised RGB cube)
    centres = np.stack([uniq // (LEVELS * LEVELS), (uniq // LEVELS) % LEVELS, uniq % LEVELS], axis=1).astype(np.float64)
    d = ((centres[:, None, :] - centres[kept][None, :, :]) ** 2).sum(axis=2)
    nearest = np.argmin(d, axis=1)
    nearest[kept] = np.arange(n_keep)
    idx = nearest[inverse].reshape(h, w)
    lab = rgb_to_lab(rgb).reshape(-1, 3)
    freq = np.bincount(idx.ravel(), minlength=n_keep).astype(np.float64)
    colours = np.stack([np.bincount(idx.ravel(), weights=lab[:, k], minlength=n_keep) for k in range(3)], axis=1)
    colours /= np.maximum(freq, 1.0)[:, None]
    return idx, colours, freq / flat.size


def _smooth_colour_saliency(sal: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """Colour-space smoothing (paper, eq. 3): average with the m = n/4 nearest colours, weighted by T - D."""
    n = len(sal)
    m = max(1, n // 4)
    if n < 2 or m < 2:
        return sal
    near = np.argsort(dist, axis=1, kind="stable")[:, :m]
    d_near = np.take_along_axis(dist, near, axis=1)
    T = d_near.sum(axis=1, keepdims=True)
    weights = T - d_near
    denom = (m - 1) * T
    safe = np.where(denom > 0, denom, 1.0)
    out = (weights * sal[near]).sum(axis=1, keepdims=True) / safe
    return np.where(denom[:, 0] > 0, out[:, 0], sal)


def hc_saliency(rgb: np.ndarray) -> np.ndarray:
    """Histogram-based contrast: S(c) = sum_j f_j ||Lab(c) - Lab(c_j)||, smoothed in colour space."""
    h, w = rgb.shape[:2]
    work = _work_copy(rgb)
    idx, colours, freq = quantise(work)
    dist = np.sqrt(((colours[:, None, :] - colours[None, :, :]) ** 2).sum(axis=2))
    sal = dist @ freq
    sal = _smooth_colour_saliency(sal, dist)
    return _to_image_size(sal[idx], h, w)


def rc_saliency(rgb: np.ndarray, sigma_s2: float = 0.4, k: float = 50.0, min_size: int = 50) -> np.ndarray:
    """Region contrast: graph-based regions (Felzenszwalb), each scored by its colour distance to the others.

    S(r_k) = sum_{i != k} exp(-D_s(r_k, r_i) / sigma_s^2) * w(r_i) * D_r(r_k, r_i), with D_r the expected
    Lab distance between the two regions' colour histograms, D_s the distance of their centroids in
    coordinates normalised to [0, 1], w the region's pixel count; sigma_s^2 = 0.4 as in the paper.
    """
    from skimage.segmentation import felzenszwalb

    h, w = rgb.shape[:2]
    work = _work_copy(rgb)
    wh, ww = work.shape[:2]
    # the paper smooths with sigma 0.5 and uses k = 50 on images of ~400 px
    labels = felzenszwalb(work, scale=k, sigma=0.5, min_size=min_size)
    _, labels = np.unique(labels, return_inverse=True)
    labels = labels.reshape(wh, ww)
    n_reg = int(labels.max()) + 1
    idx, colours, _ = quantise(work)
    n_col = len(colours)
    if n_reg < 2:
        return np.zeros((h, w), np.float32)
    hist = np.zeros((n_reg, n_col))
    np.add.at(hist, (labels.ravel(), idx.ravel()), 1.0)
    size = hist.sum(axis=1)
    hist /= size[:, None]
    dist = np.sqrt(((colours[:, None, :] - colours[None, :, :]) ** 2).sum(axis=2))
    d_col = hist @ dist @ hist.T  # expected colour distance between every pair of regions
    yy, xx = np.mgrid[0:wh, 0:ww]
    cy = np.bincount(labels.ravel(), weights=(yy.ravel() / max(1, wh - 1)), minlength=n_reg) / size
    cx = np.bincount(labels.ravel(), weights=(xx.ravel() / max(1, ww - 1)), minlength=n_reg) / size
    d_sp = np.sqrt((cy[:, None] - cy[None, :]) ** 2 + (cx[:, None] - cx[None, :]) ** 2)
    weight = np.exp(-d_sp / sigma_s2) * size[None, :]
    np.fill_diagonal(weight, 0.0)
    sal = (weight * d_col).sum(axis=1)
    return _to_image_size(sal[labels], h, w)


def _opencv_saliency():
    try:
        import cv2
    except ImportError as exc:  # pragma: no cover - environment problem
        raise ModuleNotFoundError("the spectral / finegrained methods need opencv-contrib-python-headless") from exc
    if not hasattr(cv2, "saliency"):
        raise ModuleNotFoundError(
            "cv2.saliency is missing: another OpenCV wheel shadows opencv-contrib-python-headless "
            "(pip uninstall opencv-python-headless opencv-python && pip install --force-reinstall "
            "opencv-contrib-python-headless)"
        )
    return cv2


def spectral_saliency(rgb: np.ndarray) -> np.ndarray:
    """OpenCV's spectral-residual static saliency (works on a 64x64 greyscale copy internally)."""
    cv2 = _opencv_saliency()
    h, w = rgb.shape[:2]
    work = _work_copy(rgb)
    detector = cv2.saliency.StaticSaliencySpectralResidual_create()
    ok, sal = detector.computeSaliency(np.ascontiguousarray(work[..., ::-1]))
    if not ok:
        return np.zeros((h, w), np.float32)
    return _to_image_size(np.asarray(sal, dtype=np.float64), h, w)


def finegrained_saliency(rgb: np.ndarray) -> np.ndarray:
    """OpenCV's fine-grained static saliency (centre-surround differences on an intensity pyramid)."""
    cv2 = _opencv_saliency()
    h, w = rgb.shape[:2]
    work = _work_copy(rgb)
    ok, sal = cv2.saliency.StaticSaliencyFineGrained_create().computeSaliency(np.ascontiguousarray(work[..., ::-1]))
    if not ok:
        return np.zeros((h, w), np.float32)
    return _to_image_size(np.asarray(sal, dtype=np.float64), h, w)

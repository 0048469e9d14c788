"""The LPIPS-style deep-feature distance, as an ``nn.Module`` that is also the codec's training loss.

For each tapped layer ``l`` of a frozen ImageNet backbone, the feature vector at every position is
unit-normalised over channels, the squared difference between reference and test image is weighted by
non-negative per-channel weights ``w_l`` and summed over channels; the result is averaged over space
and summed over layers (Zhang et al. 2018, "The unreasonable effectiveness of deep features").

Why this shape: the normalisation makes the distance insensitive to the overall feature magnitude of an
image (so textured and flat images are comparable), and the per-channel weights are the only learnable
part, which is what lets a few thousand human judgments calibrate it without overfitting.

Input convention: RGB tensors ``(N, 3, H, W)`` in [0, 1] (float), H and W >= 32. The linear weights are
versioned files shipped in ``sdpic/metric/weights`` (``<backbone>_<version>.safetensors``); a distance
is identified by (backbone, version), so it never silently changes.
"""

from __future__ import annotations

import copy
import json
import os
import threading
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from ..errors import InputImageError, ParameterError
from .backbones import BACKBONES, DEFAULT_BACKBONE, TAPS, backbone_spec, get_backbone

#: Smallest accepted image side: below this the deepest tapped layer (stride 16) is 1 pixel or less.
MIN_SIDE = 32
#: The shipped default linear weights (uniform: not yet human-calibrated).
DEFAULT_VERSION = "v0"
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
_EPS = 1e-10
#: How fine-tuned backbone tensors are stored in a weight file: as the metric runs them, BatchNorm folded into
#: the convolutions and the input std folded into the stem (see ``backbones._build``). Files written for
#: another layout are refused rather than loaded into the wrong places.
BACKBONE_LAYOUT = "bn-folded+std-in-stem/1"
_BACKBONE_PREFIX = "backbone."


def weights_file(backbone: str, version: str = DEFAULT_VERSION) -> Path:
    """Path of the linear-weight file: a shipped version name (``v0``...) or a path to a ``.safetensors`` file."""
    if backbone not in BACKBONES:
        raise ParameterError(f"unknown backbone {backbone!r} (choose from {', '.join(BACKBONES)})")
    if version.endswith(".safetensors") or os.sep in version or "/" in version:
        path = Path(version)
    else:
        path = WEIGHTS_DIR / f"{backbone}_{version}.safetensors"
    if not path.is_file():
        shipped = sorted(p.stem.split("_")[-1] for p in WEIGHTS_DIR.glob(f"{backbone}_*.safetensors"))
        raise ParameterError(
            f"no linear weights {path} for {backbone} (shipped versions: {', '.join(shipped) or 'none'})"
        )
    return path


def available_versions(backbone: str) -> list[str]:
    """Version names shipped in the package for ``backbone`` (e.g. ``['v0']``)."""
    return sorted(p.stem[len(backbone) + 1 :] for p in WEIGHTS_DIR.glob(f"{backbone}_*.safetensors"))


def read_weights(path: str | os.PathLike) -> tuple[list[torch.Tensor], dict[str, str]]:
    """Read linear weights ``lin0..linK`` and their metadata (backbone, taps, version, calibrated, ...)."""
    weights, _, meta = read_weight_file(path)
    return weights, meta


def read_weight_file(
    path: str | os.PathLike,
) -> tuple[list[torch.Tensor], dict[str, torch.Tensor], dict[str, str]]:
    """Linear weights, fine-tuned backbone tensors (empty unless calibrated with ``--tune-last``) and metadata."""
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = dict(fh.metadata() or {})
            keys = list(fh.keys())
            names = sorted((k for k in keys if k.startswith("lin")), key=lambda k: int(k[3:]))
            tensors = [fh.get_tensor(k).float() for k in names]
            prefixed = [k for k in keys if k.startswith(_BACKBONE_PREFIX)]
            tuned = {k.removeprefix(_BACKBONE_PREFIX): fh.get_tensor(k).float() for k in prefixed}
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise ParameterError(f"{path}: not a readable linear-weight file ({exc})") from None
    return tensors, tuned, meta


def write_weights(
    path: str | os.PathLike,
    weights: list[torch.Tensor],
    backbone: str,
    version: str,
    backbone_state: dict[str, torch.Tensor] | None = None,
    **meta: object,
) -> None:
    """Write linear weights in the versioned format (non-negative, one vector per tapped layer).

    ``backbone_state``: fine-tuned backbone tensors by name (as in the metric's folded backbone), stored next
    to the linear weights so the file alone defines the distance.
    """
    tensors = {f"lin{i}": w.detach().float().clamp_min(0).contiguous().cpu() for i, w in enumerate(weights)}
    for name, t in (backbone_state or {}).items():
        tensors[_BACKBONE_PREFIX + name] = t.detach().float().contiguous().cpu()
    metadata = {
        "backbone": backbone,
        "taps": json.dumps(list(TAPS[backbone])),
        "version": version,
        **{k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()},
    }
    if backbone_state:
        metadata["backbone_layout"] = BACKBONE_LAYOUT
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=metadata)


def _with_tuned_tensors(
    net: nn.Module, tuned: dict[str, torch.Tensor], meta: dict[str, str], path: Path, backbone: str
) -> nn.Module:
    """A private copy of the shared backbone with the fine-tuned tensors of a weight file put in."""
    if meta.get("backbone_layout") != BACKBONE_LAYOUT:
        raise ParameterError(
            f"{path}: fine-tuned backbone tensors in layout {meta.get('backbone_layout')!r}; "
            f"this sdpic reads {BACKBONE_LAYOUT!r}"
        )
    if json.loads(meta.get("taps", "null")) != list(TAPS[backbone]):
        raise ParameterError(f"{path}: fine-tuned for taps {meta.get('taps')}, this sdpic uses {list(TAPS[backbone])}")
    own = dict(net.named_parameters())
    for name, t in tuned.items():
        if name not in own or own[name].shape != t.shape:
            raise ParameterError(f"{path}: fine-tuned tensor {name!r} does not fit the {backbone} backbone")
    with torch.inference_mode(False):
        net = copy.deepcopy(net)  # the cached backbone is shared by every other metric instance
        params = dict(net.named_parameters())
        with torch.no_grad():
            for name, t in tuned.items():
                params[name].copy_(t)
    return net


def check_pair(ref: torch.Tensor, img: torch.Tensor, min_side: int = MIN_SIDE) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate an image pair against the input convention; returns both as 4-D tensors.

    Raises :class:`InputImageError` (a clear message, not a shape error deep inside a convolution) for
    non-tensors, wrong rank or channel count, size mismatch, images below ``min_side`` or non-finite values,
    and for values far outside [0, 1] (the usual mistake: 0..255 or -1..1 inputs).
    """
    for name, t in (("reference", ref), ("image", img)):
        if not isinstance(t, torch.Tensor):
            raise InputImageError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if not t.is_floating_point():
            raise InputImageError(f"{name} must be a float tensor in [0, 1], got dtype {t.dtype}")
    if ref.dim() == 3:
        ref = ref.unsqueeze(0)
    if img.dim() == 3:
        img = img.unsqueeze(0)
    if ref.dim() != 4 or ref.shape[1] != 3 or img.dim() != 4 or img.shape[1] != 3:
        raise InputImageError(f"expected RGB tensors (N, 3, H, W); got {tuple(ref.shape)} and {tuple(img.shape)}")
    if ref.shape[2:] != img.shape[2:]:
        raise InputImageError(
            f"size mismatch: reference is {ref.shape[3]}x{ref.shape[2]}, image is {img.shape[3]}x{img.shape[2]}"
        )
    if ref.shape[0] != img.shape[0] and ref.shape[0] != 1 and img.shape[0] != 1:
        raise InputImageError(f"batch sizes differ: {ref.shape[0]} and {img.shape[0]}")
    h, w = ref.shape[2:]
    if min(h, w) < min_side:
        raise InputImageError(f"image is {w}x{h}; the metric needs at least {min_side} pixels a side")
    with torch.no_grad():
        for name, t in (("reference", ref), ("image", img)):
            lo, hi = torch.aminmax(t.detach())
            if not (torch.isfinite(lo) and torch.isfinite(hi)):
                raise InputImageError(f"{name} contains NaN or infinity")
            if lo < -0.5 or hi > 1.5:
                raise InputImageError(
                    f"{name} values span [{lo.item():.3g}, {hi.item():.3g}]; "
                    "expected RGB in [0, 1] (divide 8-bit by 255)"
                )
    return ref, img  # a batch of 1 broadcasts against N (its features are computed once)


def _normalise(f: torch.Tensor) -> torch.Tensor:
    return f / (torch.sqrt(torch.sum(f * f, dim=1, keepdim=True)) + _EPS)


class PerceptualDistance(nn.Module):
    """Deep-feature distance between a reference and a test image batch (a differentiable loss).

    ``forward(ref, img)`` returns one distance per image pair, shape ``(N,)``; with ``spatial=True`` a
    distance map ``(N, 1, H, W)`` at input resolution whose spatial mean equals the scalar distance
    (each layer's map is bilinearly upsampled, and bilinear upsampling by an integer factor keeps the mean
    up to border effects), so a saliency-weighted loss is ``(map * saliency).mean()``.

    The backbone is frozen and shared by every instance in the process (built once). The linear weights
    are buffers-like parameters with ``requires_grad=False``; calibration turns them on explicitly.
    """

    def __init__(self, backbone: str = DEFAULT_BACKBONE, version: str = DEFAULT_VERSION) -> None:
        super().__init__()
        if backbone not in BACKBONES:
            raise ParameterError(f"unknown backbone {backbone!r} (choose from {', '.join(BACKBONES)})")
        self.backbone_name = backbone
        spec = backbone_spec(backbone)
        self.net = get_backbone(backbone)  # takes RGB in [0, 1]: the input normalisation is part of it
        path = weights_file(backbone, version)
        weights, tuned, meta = read_weight_file(path)
        if meta.get("backbone", backbone) != backbone:
            raise ParameterError(f"{path}: weights are for backbone {meta.get('backbone')!r}, not {backbone!r}")
        if [int(w.numel()) for w in weights] != list(spec.channels):
            raise ParameterError(
                f"{path}: weight sizes {[int(w.numel()) for w in weights]} do not match "
                f"{backbone} layers {list(spec.channels)}"
            )
        if tuned:
            self.net = _with_tuned_tensors(self.net, tuned, meta, path, backbone)
        self.fine_tuned = bool(tuned)
        self.version = meta.get("version", version)
        self.calibrated = meta.get("calibrated", "false") == "true"
        self.lin = nn.ParameterList(
            [nn.Parameter(w.clamp_min(0).view(1, -1, 1, 1).clone(), requires_grad=False) for w in weights]
        )

    def train(self, mode: bool = True) -> PerceptualDistance:
        """Keep the backbone in eval mode whatever the parent does (its BatchNorm statistics are frozen)."""
        super().train(mode)
        self.net.eval()
        return self

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Unit-normalised features of an RGB [0, 1] batch at every tapped layer."""
        return [_normalise(f) for f in self.net(x)]

    def reference_features(self, ref: torch.Tensor) -> list[torch.Tensor]:
        """Features of a constant reference (no autograd record), to reuse against many test images.

        ``ref`` is an RGB [0, 1] batch, checked like :meth:`forward`'s inputs.
        """
        ref, _ = check_pair(ref, ref)
        with torch.no_grad():
            return self.features(ref)

    def layer_maps(
        self, ref: torch.Tensor | None, img: torch.Tensor, ref_features: list[torch.Tensor] | None = None
    ) -> list[torch.Tensor]:
        """Per-layer weighted squared-difference maps ``(N, 1, h_l, w_l)``, before spatial averaging.

        ``ref_features`` (from :meth:`reference_features`) replaces ``ref``: the bench measures every decoded
        version of an image against the same reference and computes its features once.
        """
        if ref_features is not None:
            f_ref = ref_features
        elif ref is not None and ref.requires_grad:
            f_ref = self.features(ref)
        else:
            with torch.no_grad():  # the usual training case: the reference is a constant target
                f_ref = self.features(ref)
        f_img = self.features(img)
        if ref_features is not None and any(a.shape[2:] != b.shape[2:] for a, b in zip(f_ref, f_img, strict=True)):
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

        The distance is linear in the weights (``d = terms @ concat(w)``), so calibration with a frozen
        backbone precomputes these once and then fits the weights in milliseconds.
        """
        ref, img = check_pair(ref, img)
        with torch.no_grad():
            f_ref, f_img = self.features(ref), self.features(img)
            return torch.cat([((a - b) ** 2).mean(dim=(2, 3)) for a, b in zip(f_ref, f_img, strict=True)], dim=1)


_MODULES: dict[tuple[str, str], PerceptualDistance] = {}
_LOCK = threading.Lock()


def get_metric(backbone: str | None = None, version: str = DEFAULT_VERSION) -> PerceptualDistance:
    """The cached :class:`PerceptualDistance` for (backbone, version): one per process, never modified."""
    key = (backbone or DEFAULT_BACKBONE, version)
    with _LOCK:
        module = _MODULES.get(key)
        if module is None:
            with torch.inference_mode(False):  # the cached module must stay usable as a training loss
                module = PerceptualDistance(*key).eval()
            _MODULES[key] = module
    return module

"""Training objectives: rate + a spatially weighted distortion (the paper's saliency-driven perceptual loss).

::

    loss = bpp(y) + bpp(z)
         + mean_p  λ(q(p)) · w(p) · [ α · 255² · (x − x̂)²(p)  +  β · D(p) ]
         + mean_i  λ̄_i · γ · (1 − MS-SSIM_i)

* ``λ(q)`` follows the per-position quality map, so a region the encoder gives a high level (salient,
  or a user's region of interest) is also where the loss asks for fidelity: bit allocation and
  weighting agree.
* ``w(p) = 1 + k · s(p)`` renormalised to mean 1 per image, ``s`` the saliency map of the crop
  (ground-truth masks for ECSSD, the learned saliency model elsewhere).
* ``D(p)`` is the spatial LPIPS map of the training metric (LPIPS-Alex, :mod:`sdpic.metric`): calibrated
  on human judgments and cheap enough for a loss. LPIPS-VGG and DISTS are kept out of training, so the
  held-out figures the codec is judged on are not the ones it optimised.
* The MS-SSIM term is per image; it is scaled by that image's mean λ (``λ̄_i``) so that it keeps
  the same weight relative to the other terms across the rate range instead of dominating low rates.

The ``mse`` objective is α = 1 and nothing else: plain λ-weighted MSE, what ``sdpic-mse`` is trained on.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from ..codec.model import LATENT_STRIDE, SdpicModel
from ..errors import ParameterError
from ..metric.classic import ms_ssim


@dataclass(frozen=True)
class Objective:
    """Weights of the loss terms (see the module docstring for the formula)."""

    name: str
    mse_weight: float = 1.0          # α, on 255²-scaled squared error
    perceptual_weight: float = 0.0   # β, on the metric's distance map
    ms_ssim_weight: float = 0.0      # γ, on 1 − MS-SSIM
    saliency_weight: float = 0.0     # k in w = 1 + k·s
    metric: str = "lpips-alex"       # an LPIPS metric of sdpic.metric (it has the spatial map the loss needs)

    @property
    def needs_saliency(self) -> bool:
        return self.saliency_weight > 0.0

    def term_weights(self) -> dict[str, float | str]:
        """α, β, γ, k and the metric, as recorded with checkpoints and weights."""
        return {k: getattr(self, k) for k in (*TERM_WEIGHTS, "metric")}


#: The weights ``sdpic train`` can override (``--mse-weight`` ...).
TERM_WEIGHTS = ("mse_weight", "perceptual_weight", "ms_ssim_weight", "saliency_weight")


# β and γ put the perceptual and MS-SSIM terms on the scale of 255²·MSE: between JPEG quality 10 and 90
# on Kodak LPIPS-Alex moves by ~0.25 and 1 − MS-SSIM by ~0.08 while 255²·MSE moves by ~50-250.
OBJECTIVES: dict[str, Objective] = {
    "mse": Objective("mse"),
    "perceptual": Objective("perceptual", mse_weight=0.25, perceptual_weight=400.0, ms_ssim_weight=200.0,
                            saliency_weight=1.0),
}


def get_objective(name: str, **weights: float | str) -> Objective:
    """The named objective, with some of its :data:`TERM_WEIGHTS` (and its ``metric``) replaced."""
    if name not in OBJECTIVES:
        raise ParameterError(f"unknown objective {name!r} (choose from {', '.join(OBJECTIVES)})")
    metric = weights.pop("metric", None)
    unknown = set(weights) - set(TERM_WEIGHTS)
    if unknown or any(v < 0 for v in weights.values()):
        raise ParameterError(f"loss weights are non-negative values of {', '.join(TERM_WEIGHTS)}")
    if metric is not None and metric not in ("lpips-alex", "lpips-vgg"):
        raise ParameterError(f"the training metric must be an LPIPS metric with a spatial map, got {metric!r}")
    return replace(OBJECTIVES[name], **weights, **({"metric": metric} if metric else {}))


def saliency_weights(saliency: torch.Tensor, k: float) -> torch.Tensor:
    """w = 1 + k·s, renormalised to mean 1 per image. (B,1,H,W) -> (B,1,H,W)."""
    w = 1.0 + k * saliency
    return w / w.mean(dim=(1, 2, 3), keepdim=True)


class TrainingLoss(nn.Module):
    """Computes the objective's terms from a model output. Holds the (frozen) perceptual metric."""

    def __init__(self, objective: Objective, autocast: bool = False) -> None:
        super().__init__()
        self.objective = objective
        self.autocast = autocast  # run the metric's network in bf16 (where the transforms are: fast CPUs, GPUs)
        self.metric = None
        if objective.perceptual_weight > 0.0:
            from ..metric import build_metric

            self.metric = build_metric(objective.metric).eval()
            self.metric.requires_grad_(False)

    def forward(self, model: SdpicModel, x: torch.Tensor, q: torch.Tensor, out: dict,
                saliency: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """x, x̂: (B,3,H,W); q: (B,1,H/16,W/16) in [0,1]; saliency: (B,1,H,W) in [0,1] or None."""
        obj = self.objective
        if obj.needs_saliency and saliency is None:
            raise ParameterError(f"objective {obj.name!r} needs a saliency map per crop")
        num_pixels = x.shape[0] * x.shape[2] * x.shape[3]
        bpp_y = -torch.log2(out["y_likelihoods"]).sum() / num_pixels
        bpp_z = -torch.log2(out["z_likelihoods"]).sum() / num_pixels
        x_hat = out["x_hat"]
        lam_latent = model.lambda_map(q)
        lam = lam_latent.repeat_interleave(LATENT_STRIDE, 2).repeat_interleave(LATENT_STRIDE, 3)
        sq = (x_hat - x).square().mean(dim=1, keepdim=True)
        per_pixel = obj.mse_weight * 255.0 ** 2 * sq
        terms: dict[str, torch.Tensor] = {"mse": sq.mean().detach()}
        if self.metric is not None:
            # The metric takes images in [0, 1]; clamp in the forward pass only, so pixels the decoder
            # overshoots still get the metric's gradient (straight-through).
            in_range = x_hat + (x_hat.clamp(0.0, 1.0) - x_hat).detach()
            with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.autocast):
                dmap = self.metric(x, in_range, spatial=True).float()
            per_pixel = per_pixel + obj.perceptual_weight * dmap
            terms["percep"] = dmap.mean().detach()
        if obj.needs_saliency:
            per_pixel = per_pixel * saliency_weights(saliency, obj.saliency_weight)
        distortion = (lam * per_pixel).mean()
        if obj.ms_ssim_weight > 0.0:
            one_minus = 1.0 - ms_ssim(x_hat, x)
            distortion = distortion + (lam_latent.mean(dim=(1, 2, 3)) * obj.ms_ssim_weight * one_minus).mean()
            terms["ms_ssim"] = (1.0 - one_minus.mean()).detach()
        bpp = bpp_y + bpp_z
        return {"loss": bpp + distortion, "bpp": bpp, "distortion": distortion, **terms}


__all__ = ["OBJECTIVES", "Objective", "TrainingLoss", "get_objective", "saliency_weights"]

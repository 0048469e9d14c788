"""Training objectives (sdpic.train.losses): the formula, the saliency weights, and the error paths."""

from __future__ import annotations

import pytest
import torch

from sdpic.codec.model import SdpicModel
from sdpic.errors import ParameterError
from sdpic.train.losses import OBJECTIVES, Objective, TrainingLoss, get_objective, saliency_weights


def _fake_output(x: torch.Tensor, noise: float, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    b, _, h, w = x.shape
    return {
        "x_hat": (x + noise * torch.randn(x.shape, generator=g)).requires_grad_(),
        "y_likelihoods": torch.rand(b, 8, h // 16, w // 16, generator=g).clamp_min(0.01),
        "z_likelihoods": torch.rand(b, 8, h // 64, w // 64, generator=g).clamp_min(0.01),
    }


def test_mse_objective_is_rate_plus_lambda_weighted_mse() -> None:
    model = SdpicModel()
    x = torch.rand(2, 3, 64, 64)
    q = torch.rand(2, 1, 4, 4)
    out = _fake_output(x, 0.05)
    terms = TrainingLoss(get_objective("mse"))(model, x, q, out)
    bpp = -(torch.log2(out["y_likelihoods"]).sum() + torch.log2(out["z_likelihoods"]).sum()) / (2 * 64 * 64)
    lam = model.lambda_map(q).repeat_interleave(16, 2).repeat_interleave(16, 3)
    expected = bpp + (lam * 255.0 ** 2 * (out["x_hat"] - x).square().mean(1, keepdim=True)).mean()
    assert torch.allclose(terms["loss"], expected)
    assert torch.allclose(terms["bpp"], bpp)


def test_saliency_weights_have_mean_one_and_favour_salient_pixels() -> None:
    s = torch.zeros(1, 1, 8, 8)
    s[..., :4, :] = 1.0
    w = saliency_weights(s, 3.0)
    assert torch.allclose(w.mean(), torch.tensor(1.0))
    assert torch.allclose(w[..., :4, :] / w[..., 4:, :].mean(), torch.tensor(4.0))  # (1+k)/1


def test_saliency_weighting_makes_errors_in_salient_regions_cost_more() -> None:
    model = SdpicModel()
    objective = Objective("test", saliency_weight=4.0)
    x = torch.rand(1, 3, 64, 64)
    q = torch.full((1, 1, 4, 4), 0.5)
    saliency = torch.zeros(1, 1, 64, 64)
    saliency[..., :32, :] = 1.0
    loss = TrainingLoss(objective)
    costs = []
    for rows in (slice(0, 32), slice(32, 64)):  # the same error, inside then outside the salient half
        out = _fake_output(x, 0.0)
        with torch.no_grad():
            out["x_hat"][..., rows, :] += 0.1
        costs.append(float(loss(model, x, q, out, saliency)["distortion"].detach()))
    assert costs[0] == pytest.approx(5.0 * costs[1], rel=1e-4)


def test_perceptual_objective_uses_metric_and_ms_ssim_and_backpropagates() -> None:
    model = SdpicModel()
    loss = TrainingLoss(OBJECTIVES["perceptual"])
    x = torch.rand(1, 3, 192, 192)
    q = torch.full((1, 1, 12, 12), 0.5)
    saliency = torch.rand(1, 1, 192, 192)
    near, far = _fake_output(x, 0.02), _fake_output(x, 0.2)
    t_near = loss(model, x, q, near, saliency)
    t_far = loss(model, x, q, far, saliency)
    assert {"percep", "ms_ssim", "mse"} <= set(t_near)
    assert t_near["distortion"] < t_far["distortion"]
    assert t_near["percep"] < t_far["percep"] and t_near["ms_ssim"] > t_far["ms_ssim"]
    t_far["loss"].backward()
    assert far["x_hat"].grad is not None and far["x_hat"].grad.abs().sum() > 0


def test_perceptual_objective_requires_saliency() -> None:
    x = torch.rand(1, 3, 64, 64)
    with pytest.raises(ParameterError, match="saliency"):
        TrainingLoss(OBJECTIVES["perceptual"])(SdpicModel(), x, torch.rand(1, 1, 4, 4), _fake_output(x, 0.1))


def test_unknown_objective_is_a_typed_error() -> None:
    with pytest.raises(ParameterError, match="unknown objective"):
        get_objective("gan")


def test_objective_overrides() -> None:
    base = get_objective("perceptual")
    assert base.metric == "lpips-alex"
    changed = get_objective("perceptual", perceptual_weight=10.0, metric="lpips-vgg")
    assert changed.perceptual_weight == 10.0 and changed.metric == "lpips-vgg"
    assert changed.mse_weight == base.mse_weight
    assert changed.term_weights()["metric"] == "lpips-vgg"
    with pytest.raises(ParameterError, match="spatial map"):
        get_objective("perceptual", metric="dists")
    with pytest.raises(ParameterError, match="non-negative"):
        get_objective("perceptual", mse_weight=-1.0)
    with pytest.raises(ParameterError, match="non-negative"):
        get_objective("perceptual", beta=1.0)

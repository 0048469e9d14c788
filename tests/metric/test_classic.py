"""PSNR / SSIM / MS-SSIM: values, batch-awareness, differentiability, small images."""

from __future__ import annotations

import math

import pytest
import torch

from sdpic.errors import InputImageError
from sdpic.metric.classic import ms_ssim, ms_ssim_scales, psnr, ssim

torch.set_num_threads(1)


def _pair(n: int = 2, size: int = 64, sigma: float = 0.05) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(n, 3, size, size, generator=gen)
    return x, (x + sigma * torch.randn(x.shape, generator=gen)).clamp(0, 1)


def test_psnr_value() -> None:
    x = torch.zeros(1, 3, 16, 16)
    y = torch.full_like(x, 0.1)
    assert float(psnr(x, y)) == pytest.approx(20.0, abs=1e-4)  # MSE 0.01
    assert float(psnr(x, x)) == pytest.approx(100.0)  # capped, finite


def test_identical_images() -> None:
    x, _ = _pair()
    assert torch.allclose(ssim(x, x), torch.ones(2), atol=1e-5)
    assert torch.allclose(ms_ssim(x, x), torch.ones(2), atol=1e-5)


def test_ordering_with_noise() -> None:
    x, y1 = _pair(sigma=0.02)
    _, y2 = _pair(sigma=0.1)
    assert (ms_ssim(x, y1) > ms_ssim(x, y2)).all()
    assert (ssim(x, y1) > ssim(x, y2)).all()
    assert (psnr(x, y1) > psnr(x, y2)).all()


def test_batch_aware() -> None:
    x, y = _pair(n=3, size=200)
    batch = ms_ssim(x, y)
    singles = torch.cat([ms_ssim(x[i : i + 1], y[i : i + 1]) for i in range(3)])
    assert batch.shape == (3,)
    assert torch.allclose(batch, singles, atol=1e-6)


def test_scales_reduce_for_small_images() -> None:
    assert ms_ssim_scales(256, 256) == 5
    assert ms_ssim_scales(176, 300) == 5
    assert ms_ssim_scales(175, 300) == 4
    assert ms_ssim_scales(32, 32) == 2
    assert ms_ssim_scales(11, 11) == 1
    x, y = _pair(size=32)
    v = ms_ssim(x, y)
    assert torch.isfinite(v).all() and (v < 1).all()
    x1, y1 = _pair(size=15)
    assert torch.allclose(ms_ssim(x1, y1), ssim(x1, y1), atol=1e-6)  # one scale = SSIM
    with pytest.raises(InputImageError, match="11"):
        ms_ssim(x[:, :, :10, :10], y[:, :, :10, :10])
    with pytest.raises(InputImageError, match="shape"):
        ms_ssim(x, y[:, :, :30])


@pytest.mark.parametrize("size", [32, 64, 180])
def test_differentiable(size: int) -> None:
    x, y = _pair(size=size)
    y = y.clone().requires_grad_(True)
    (1 - ms_ssim(x, y)).sum().backward()
    assert y.grad is not None and torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0
    y.grad = None
    (-psnr(x, y)).sum().backward()
    assert torch.isfinite(y.grad).all()


def test_odd_sizes_and_negative_structure() -> None:
    x, y = _pair(size=181)
    assert torch.isfinite(ms_ssim(x, y[:, :, :, :]).sum())
    inv = 1 - x  # anti-correlated: contrast-structure terms are negative and get clamped
    v = ms_ssim(x, inv.requires_grad_(True))
    v.sum().backward()
    assert torch.isfinite(v).all() and not math.isnan(float(v.detach().sum()))

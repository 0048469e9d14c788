"""The perceptual distance: conventions, differentiability, determinism, sizes, errors, caching."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sdpic.errors import InputImageError, ParameterError
from sdpic.metric import BACKBONES, DEFAULT_BACKBONE, EVAL_BACKBONE, PerceptualDistance, distance, get_metric
from sdpic.metric.backbones import get_backbone

torch.set_num_threads(1)


def _pair(n: int = 2, h: int = 40, w: int = 48, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    ref = torch.rand(n, 3, h, w, generator=gen)
    img = (ref + 0.1 * torch.randn(n, 3, h, w, generator=gen)).clamp(0, 1)
    return ref, img


def test_backbone_names() -> None:
    assert DEFAULT_BACKBONE == "mobilenet_v2"
    assert EVAL_BACKBONE == "efficientnet_lite0"
    assert set(BACKBONES) == {DEFAULT_BACKBONE, EVAL_BACKBONE}


@pytest.mark.parametrize("backbone", BACKBONES)
def test_zero_for_identical_positive_otherwise(backbone: str) -> None:
    ref, img = _pair()
    d_same = distance(ref, ref, backbone=backbone)
    d = distance(ref, img, backbone=backbone)
    assert d.shape == (2,)
    assert torch.all(d_same.abs() < 1e-6)
    assert torch.all(d > 1e-3)


@pytest.mark.parametrize("backbone", BACKBONES)
def test_differentiable(backbone: str) -> None:
    ref, img = _pair()
    img = img.clone().requires_grad_(True)
    metric = PerceptualDistance(backbone)
    metric(ref, img).sum().backward()
    assert img.grad is not None
    assert torch.isfinite(img.grad).all()
    assert img.grad.abs().sum() > 0
    # the frozen parts get no gradient
    assert all(not p.requires_grad for p in metric.parameters())


def test_gradient_descent_reduces_distance() -> None:
    ref, img = _pair(n=1)
    img = img.clone().requires_grad_(True)
    metric = get_metric()
    start = float(metric(ref, img.detach()))
    opt = torch.optim.Adam([img], lr=0.01)
    for _ in range(5):
        opt.zero_grad()
        metric(ref, img).sum().backward()
        opt.step()
    assert float(metric(ref, img.detach())) < start


def test_deterministic() -> None:
    ref, img = _pair()
    a = distance(ref, img)
    b = distance(ref, img)
    c = PerceptualDistance()(ref, img)
    assert torch.equal(a, b)
    assert torch.allclose(a, c, rtol=0, atol=0)


def test_batch_matches_single_and_broadcasts() -> None:
    ref, img = _pair(n=3)
    batch = distance(ref, img)
    singles = torch.cat([distance(ref[i : i + 1], img[i : i + 1]) for i in range(3)])
    assert torch.allclose(batch, singles, atol=1e-5)
    one_ref = distance(ref[:1], img)  # a batch-1 reference against a batch of 3
    assert one_ref.shape == (3,)
    assert torch.allclose(one_ref[0], batch[0], atol=1e-5)


def test_spatial_map_shape_and_mean() -> None:
    ref, img = _pair(h=64, w=96)
    m = distance(ref, img, spatial=True)
    assert m.shape == (2, 1, 64, 96)
    assert (m >= 0).all()
    assert torch.allclose(m.mean(dim=(1, 2, 3)), distance(ref, img), rtol=0.05)


@pytest.mark.parametrize("size", [(32, 32), (32, 57), (45, 33)])
def test_small_sizes_work(size: tuple[int, int]) -> None:
    ref, img = _pair(n=1, h=size[0], w=size[1])
    for backbone in BACKBONES:
        assert torch.isfinite(distance(ref, img, backbone=backbone)).all()
        assert distance(ref, img, backbone=backbone, spatial=True).shape[2:] == size


def test_bad_inputs_raise_clear_errors() -> None:
    ref, img = _pair(n=1)
    with pytest.raises(InputImageError, match="size mismatch"):
        distance(ref, img[:, :, :-1])
    with pytest.raises(InputImageError, match="at least 32"):
        distance(ref[:, :, :31], img[:, :, :31])
    with pytest.raises(InputImageError, match="RGB"):
        distance(ref[:, :1], img[:, :1])
    with pytest.raises(InputImageError, match=r"\[0, 1\]"):
        distance(ref * 255, img * 255)
    bad = img.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(InputImageError, match="NaN"):
        distance(ref, bad)
    with pytest.raises(InputImageError, match="float"):
        distance((ref * 255).to(torch.uint8), (img * 255).to(torch.uint8))
    with pytest.raises(InputImageError):
        distance(ref, Image.new("RGB", (48, 40)))
    with pytest.raises(ParameterError, match="backbone"):
        distance(ref, img, backbone="vgg")
    with pytest.raises(ParameterError, match="v0"):
        distance(ref, img, version="v999")


def test_pil_and_path_inputs(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    a = Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8))
    b = Image.fromarray(np.clip(np.asarray(a, dtype=np.int16) + 20, 0, 255).astype(np.uint8))
    d = distance(a, b)
    assert isinstance(d, float) and d > 0
    a.save(tmp_path / "a.png")
    b.save(tmp_path / "b.png")
    assert distance(tmp_path / "a.png", str(tmp_path / "b.png")) == pytest.approx(d, abs=1e-6)
    m = distance(a, b, spatial=True)
    assert isinstance(m, np.ndarray) and m.shape == (40, 50)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(InputImageError, match="readable"):
        distance(tmp_path / "a.png", tmp_path / "broken.png")
    with pytest.raises(InputImageError, match="mismatch"):
        distance(a, a.resize((50, 50)))


def test_backbone_built_once_and_kept_frozen() -> None:
    assert get_backbone("mobilenet_v2") is get_backbone("mobilenet_v2")
    assert get_metric() is get_metric(None, "v0")
    metric = PerceptualDistance()
    assert metric.net is get_backbone(DEFAULT_BACKBONE)
    metric.train()
    assert not metric.net.training  # a parent calling .train() must not unfreeze BatchNorm statistics
    assert metric.version == "v0" and metric.calibrated is False


def test_reference_features_reused_give_the_same_distance() -> None:
    ref, img = _pair()
    metric = get_metric()
    feats = metric.reference_features(ref[:1])
    direct = metric(ref[:1].expand_as(img), img)
    np.testing.assert_allclose(metric.from_reference_features(feats, img).numpy(), direct.numpy(), rtol=1e-5)
    with pytest.raises(InputImageError):
        metric.from_reference_features(feats, img[..., :-8])  # another size


def test_metric_built_under_inference_mode_still_trains() -> None:
    """The bench builds the cached metric inside torch.inference_mode; a later training loss must still work."""
    import importlib

    backbones = importlib.import_module("sdpic.metric.backbones")
    distance = importlib.import_module("sdpic.metric.distance")  # the package's `distance` is the function
    saved = dict(backbones._CACHE), dict(distance._MODULES)
    backbones._CACHE.clear()
    distance._MODULES.clear()
    try:
        ref, img = _pair(n=1)
        with torch.inference_mode():
            get_metric()(ref, img)
        img = img.clone().requires_grad_(True)
        get_metric()(ref, img).sum().backward()
        assert img.grad is not None and img.grad.abs().sum() > 0
    finally:
        backbones._CACHE.clear()
        backbones._CACHE.update(saved[0])
        distance._MODULES.clear()
        distance._MODULES.update(saved[1])

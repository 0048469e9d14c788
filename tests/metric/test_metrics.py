"""The human-calibrated distances: exact values, conventions, gradients, sizes, errors, caching.

The pinned values come from the reference implementations (``lpips-jax`` under jax, ``DISTS_pytorch``'s own
module), computed by ``benchmarks/metric_reference_check.py`` on the synthetic pair below
(``results/metric/reference_check.json``).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sdpic.errors import InputImageError, ParameterError
from sdpic.metric import DEFAULT_METRIC, LPIPS, METRICS, column, distance, get_metric, to_tensor
from sdpic.metric.backbones import get_backbone

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from metric_reference_check import synthetic_pair

torch.set_num_threads(1)

#: Reference values on ``synthetic_pair()`` (lpips-jax 0.1.0 / DISTS_pytorch 0.1), tolerance 1e-5.
REFERENCE = {"lpips-alex": 0.3657945692539215, "lpips-vgg": 0.3638860583305359, "dists": 0.275073766708374}


def _pair(n: int = 2, h: int = 40, w: int = 48, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    ref = torch.rand(n, 3, h, w, generator=gen)
    img = (ref + 0.1 * torch.randn(n, 3, h, w, generator=gen)).clamp(0, 1)
    return ref, img


def test_names() -> None:
    assert METRICS == ("lpips-alex", "lpips-vgg", "dists") and DEFAULT_METRIC == "lpips-alex"
    assert [column(m) for m in METRICS] == ["lpips_alex", "lpips_vgg", "dists"]


@pytest.mark.parametrize("metric", METRICS)
def test_agrees_with_the_reference_implementation(metric: str) -> None:
    ref, test = synthetic_pair()
    assert distance(ref, test, metric=metric) == pytest.approx(REFERENCE[metric], abs=1e-5)


def test_reference_values_match_the_recorded_check() -> None:
    import json

    doc = json.loads((Path(__file__).resolve().parents[2] / "results/metric/reference_check.json").read_text())
    row = next(r for r in doc["pairs"] if r["pair"] == "synthetic")
    assert {m: row[column(m)]["reference"] for m in METRICS} == REFERENCE
    assert doc["max_abs_diff"] <= doc["tolerance"] == 1e-5


@pytest.mark.parametrize("metric", METRICS)
def test_zero_for_identical_positive_otherwise(metric: str) -> None:
    ref, img = _pair()
    d_same = distance(ref, ref, metric=metric)
    d = distance(ref, img, metric=metric)
    assert d.shape == (2,)
    assert torch.all(d_same.abs() < 1e-6)
    assert torch.all(d > 1e-3)


@pytest.mark.parametrize("metric", METRICS)
def test_gradients_flow_to_the_image_not_to_the_network(metric: str) -> None:
    ref, img = _pair(n=1, h=48, w=48)
    img = img.clone().requires_grad_(True)
    module = get_metric(metric)
    module(ref, img).sum().backward()
    assert img.grad is not None and torch.isfinite(img.grad).all() and img.grad.abs().sum() > 0
    assert all(not p.requires_grad for p in module.parameters())


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


@pytest.mark.parametrize("metric", METRICS)
def test_batch_matches_single_and_broadcasts(metric: str) -> None:
    ref, img = _pair(n=3)
    batch = distance(ref, img, metric=metric)
    singles = torch.cat([distance(ref[i : i + 1], img[i : i + 1], metric=metric) for i in range(3)])
    assert torch.allclose(batch, singles, atol=1e-5)
    one_ref = distance(ref[:1], img, metric=metric)  # a batch-1 reference against a batch of 3
    assert one_ref.shape == (3,)
    assert torch.allclose(one_ref[0], batch[0], atol=1e-5)


@pytest.mark.parametrize("metric", ["lpips-alex", "lpips-vgg"])
def test_spatial_map_shape_and_mean(metric: str) -> None:
    ref, img = _pair(h=64, w=96)
    m = distance(ref, img, metric=metric, spatial=True)
    assert m.shape == (2, 1, 64, 96)
    assert (m >= 0).all()
    assert torch.allclose(m.mean(dim=(1, 2, 3)), distance(ref, img, metric=metric), rtol=0.1)


def test_dists_has_no_map() -> None:
    ref, img = _pair(n=1)
    with pytest.raises(ParameterError, match="no spatial map"):
        distance(ref, img, metric="dists", spatial=True)


@pytest.mark.parametrize("size", [(32, 32), (32, 57), (45, 33)])
def test_smallest_sizes_work(size: tuple[int, int]) -> None:
    ref, img = _pair(n=1, h=size[0], w=size[1])
    for metric in METRICS:
        assert torch.isfinite(distance(ref, img, metric=metric)).all()


@pytest.mark.parametrize("metric", METRICS)
def test_sizes_below_the_minimum_are_refused(metric: str) -> None:
    ref, img = _pair(n=1, h=31, w=64)
    with pytest.raises(InputImageError, match="at least 32"):
        distance(ref, img, metric=metric)


def test_bad_inputs_raise_clear_errors() -> None:
    ref, img = _pair(n=1)
    with pytest.raises(InputImageError, match="size mismatch"):
        distance(ref, img[:, :, :-1])
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
    with pytest.raises(ParameterError, match="unknown metric"):
        distance(ref, img, metric="vgg")
    with pytest.raises(ParameterError, match=r"v0\.1"):
        distance(ref, img, version="v999")
    with pytest.raises(ParameterError, match="DISTS"):
        distance(ref, img, metric="dists", version="v0.1")


def test_pil_and_path_inputs(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    a = Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8))
    b = Image.fromarray(np.clip(np.asarray(a, dtype=np.int16) + 20, 0, 255).astype(np.uint8))
    d = distance(a, b)
    assert isinstance(d, float) and d > 0
    a.save(tmp_path / "a.png")
    b.save(tmp_path / "b.png")
    assert distance(tmp_path / "a.png", str(tmp_path / "b.png")) == pytest.approx(d, abs=1e-6)
    assert distance(np.asarray(a), np.asarray(b)) == pytest.approx(d, abs=1e-6)
    m = distance(a, b, spatial=True)
    assert isinstance(m, np.ndarray) and m.shape == (40, 50)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(InputImageError, match="readable"):
        distance(tmp_path / "a.png", tmp_path / "broken.png")
    with pytest.raises(InputImageError, match="mismatch"):
        distance(a, a.resize((50, 50)))


def test_networks_built_once_and_kept_frozen() -> None:
    assert get_backbone("alexnet") is get_backbone("alexnet")
    assert get_backbone("vgg16", "l2") is not get_backbone("vgg16", "max")
    assert get_metric() is get_metric("lpips-alex")
    metric = LPIPS("alexnet")
    assert metric.net is get_backbone("alexnet")
    metric.train()
    assert not metric.net.training  # a parent calling .train() must not change the frozen network
    assert metric.version == "v0.1" and metric.calibrated is True


@pytest.mark.parametrize("metric", METRICS)
def test_reference_features_reused_give_the_same_distance(metric: str) -> None:
    ref, img = _pair()
    module = get_metric(metric)
    feats = module.reference_features(ref[:1])
    direct = module(ref[:1].expand_as(img), img)
    np.testing.assert_allclose(module.from_reference_features(feats, img).numpy(), direct.numpy(), rtol=1e-5)
    with pytest.raises(InputImageError):
        module.from_reference_features(feats, img[..., :-8])  # another size


def test_metric_built_under_inference_mode_still_trains() -> None:
    """The bench builds the cached metric inside torch.inference_mode; a later training loss must still work."""
    backbones = importlib.import_module("sdpic.metric.backbones")
    registry = importlib.import_module("sdpic.metric.distance")
    saved = dict(backbones._CACHE), dict(registry._MODULES)
    backbones._CACHE.clear()
    registry._MODULES.clear()
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
        registry._MODULES.clear()
        registry._MODULES.update(saved[1])


def test_to_tensor_matches_the_convention() -> None:
    ref, _ = synthetic_pair()
    t = to_tensor(ref)
    assert t.shape == (1, 3, 64, 64) and t.dtype == torch.float32
    assert torch.equal(t[0].permute(1, 2, 0), torch.from_numpy(ref).float() / 255.0)

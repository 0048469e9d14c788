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
    #: The realism decoder for this model's files (:mod:`sdpic.codec.realism`), if it has one, and the
    #: realism ``sdpic.decompress`` uses when none is asked for (the one the held-out metrics pick).
    realism_filename: str | None = None
    default_realism: float = 0.0

    @property
    def path(self) -> Path:
        return ZOO_DIR / self.filename

    @property
    def realism_path(self) -> Path | None:
        """The realism decoder's weights, where this installation has them."""
        if self.realism_filename is None or not (ZOO_DIR / self.realism_filename).exists():
            return None
        return ZOO_DIR / self.realism_filename


#: Ids are never reused: a stream names its model by id.
REGISTRY: dict[str, ModelEntry] = {
    "sdpic-mse": ModelEntry("sdpic-mse", 1, "sdpic-mse.safetensors",
                            "variable-rate hyperprior + checkerboard context, trained for MSE", saliency="none"),
    "sdpic": ModelEntry("sdpic", 2, "sdpic.safetensors",
                        "the same codec trained on the saliency-weighted perceptual loss (MODEL_CARD_sdpic.md)",
                        saliency="auto", realism_filename="sdpic-realism.safetensors", default_realism=0.0),
}
#: Never assigned to a registered model: the id of streams coded with weights outside the zoo
#: (training snapshots measured by benchmarks/learning_curve.py). No installation decodes them.
UNREGISTERED_MODEL_ID = 0
DEFAULT_MODEL = "sdpic"  # the perceptual model; sdpic-mse for PSNR

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


def save_realism_file(decoder: torch.nn.Module, path: str | Path, base_path: str | Path,
                      metadata: dict | None = None) -> None:
    """Write a realism decoder's weights for the base weights at ``base_path`` (their hash goes into the
    file), atomically; ``metadata`` (steps, the recipe) is stored beside.

    Stored as float16 (half the size; decoding computes in float32): on Kodak, pixels decoded with the
    rounded weights differ from the float32 ones by one level on about 1% of the pixels, never more.
    Training keeps float32 (its state file); this is the shipped form and what snapshots are measured in."""
    from safetensors.torch import save

    from ..outputs import atomic_write_bytes

    state = {k: v.detach().half().contiguous().cpu() for k, v in decoder.state_dict().items()}
    meta = {"kind": "sdpic-realism-decoder", "base_hash": weights_hash(Path(base_path).resolve()).hex(),
            "config": json.dumps({"latent_channels": decoder.g_s.ups[0].conv.in_channels,
                                  "cond_channels": decoder.quality_encoder.net[0].out_channels})}
    meta.update({k: str(v) for k, v in (metadata or {}).items()})
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, save(state, metadata=meta))


def load_realism_file(path: str | Path, base_path: str | Path) -> torch.nn.Module:
    """A realism decoder from a file written by ``sdpic.train.realism``, checked to be for ``base_path``'s
    weights (the file records their hash): a decoder for other latents would decode garbage."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    from ..codec.realism import RealismDecoder

    with safe_open(str(path), framework="pt") as fh:
        meta = fh.metadata() or {}
    if meta.get("kind") != "sdpic-realism-decoder":
        raise ModelMismatchError(f"{path} is not a realism decoder's weights file")
    expected = weights_hash(Path(base_path).resolve()).hex()
    if meta.get("base_hash") != expected:
        raise ModelMismatchError(f"{path} was trained for base weights {meta.get('base_hash')}, not {expected}")
    config = json.loads(meta.get("config", "{}"))
    decoder = RealismDecoder(**config)
    decoder.load_state_dict({k: v.float() for k, v in load_file(str(path)).items()})
    return decoder.eval()


_models: dict[str, torch.nn.Module] = {}
_realism: dict[str, torch.nn.Module] = {}


def load_realism_decoder(name: str = DEFAULT_MODEL) -> torch.nn.Module:
    """The named model's shipped realism decoder (built once per process); :class:`UnknownModelError` when
    the model has none in this installation."""
    entry = entry_by_name(name)
    if entry.realism_path is None:
        raise UnknownModelError(f"model {name!r} has no realism decoder in this installation")
    with _lock:
        if name not in _realism:
            _realism[name] = load_realism_file(entry.realism_path, entry.path)
        return _realism[name]


def load_model(name: str = DEFAULT_MODEL) -> torch.nn.Module:
    """The named shipped model, ready for coding (built once per process)."""
    entry = entry_by_name(name)
    with _lock:
        if name not in _models:
            _models[name] = load_model_file(entry.path)
        return _models[name]

"""The project's own codec, one bench codec per shipped model (``sdpic``, ``sdpic-mse``, ...).

Everything goes through the public API (``sdpic.compress`` / ``sdpic.decompress``) so the bench measures
exactly what users get. The codec core and the zoo are built separately; when they are not importable yet
the codec is reported as skipped with the reason instead of breaking the baseline runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import ParameterError
from .base import Availability, Codec, as_rgb_uint8

BASE_NAME = "sdpic"


def _import_error_reason() -> str | None:
    try:
        import sdpic.api  # noqa: F401
    except ImportError as exc:
        return f"the sdpic codec core is not importable yet ({exc})"
    return None


def list_model_names() -> tuple[list[str], str]:
    """Shipped model names from ``sdpic.zoo.list_models()`` (and a reason when there are none)."""
    try:
        from sdpic import zoo
    except ImportError as exc:
        return [], f"sdpic.zoo is not importable yet ({exc})"
    try:
        models = zoo.list_models()
    except Exception as exc:  # a broken zoo must not break the baseline bench
        return [], f"sdpic.zoo.list_models() failed: {exc}"
    names = []
    for m in models:
        names.append(m if isinstance(m, str) else str(getattr(m, "name", m)))
    return names, "" if names else "sdpic.zoo.list_models() returned no models"


def codec_name_for_model(model: str) -> str:
    """Bench name of a model: ``sdpic`` stays ``sdpic``, ``mse`` becomes ``sdpic-mse``."""
    return model if model.startswith(BASE_NAME) else f"{BASE_NAME}-{model}"


@dataclass(frozen=True)
class SdpicOptions:
    """How the bench runs every sdpic codec: the ``saliency`` argument (None: each model's own mode,
    ``sdpic.zoo.ModelEntry.saliency``) and the ROI strength (None: ``sdpic.compress``'s default). One value,
    so a new option is one field."""

    saliency: str | None = None
    roi_strength: float | None = None

    def __post_init__(self) -> None:
        if self.saliency not in (None, "auto", "none"):
            raise ParameterError(f"--sdpic-saliency must be auto or none, got {self.saliency!r}")
        if self.roi_strength is not None and not 0.0 <= self.roi_strength <= 1.0:
            raise ParameterError(f"ROI strength must be within 0..1, got {self.roi_strength}")

    def saliency_for(self, model: str | None) -> str:
        """The saliency argument ``model`` (None: the default model) is coded with."""
        if self.saliency is not None:
            return self.saliency
        from sdpic import zoo

        entry = zoo.REGISTRY.get(model or zoo.DEFAULT_MODEL)
        return entry.saliency if entry else "none"  # an unknown model never runs (is_available)

    def config(self, model: str | None) -> str:
        """The codec's config string, part of its cache key. The default strength keeps the historical
        string, so cached streams stay valid."""
        strength = "" if self.roi_strength is None else f",roi_strength={self.roi_strength:g}"
        return f"model={model},saliency={self.saliency_for(model)}{strength}"

    def record(self, model: str | None) -> dict[str, Any]:
        """The options as written into bench JSONs, both resolved to the values used."""
        from sdpic.quality_map import DEFAULT_ROI_STRENGTH

        strength = DEFAULT_ROI_STRENGTH if self.roi_strength is None else self.roi_strength
        return {"saliency": self.saliency_for(model), "roi_strength": strength}


class SdpicCodec(Codec):
    """sdpic at quality 0-100 with one zoo model, run as ``options`` say."""

    settings = (2, 10, 22, 35, 50, 65, 80, 95)
    setting_range = (0, 100)

    def __init__(
        self, model: str | None = None, name: str | None = None, options: SdpicOptions = SdpicOptions(),
        threads: int = 2, realism: float | None = None,
    ) -> None:
        super().__init__(threads)
        self.model = model
        self.name = name or (codec_name_for_model(model) if model else BASE_NAME)
        self.options = options
        self.realism = realism  # decoded at this realism (None: the model's default, what users get)
        self.config = options.config(model) + self._realism_config()
        self._unavailable: str | None = None

    def effective_realism(self) -> float:
        from sdpic import zoo

        if self.realism is not None:
            return self.realism
        entry = zoo.REGISTRY.get(self.model or zoo.DEFAULT_MODEL)
        return entry.default_realism if entry is not None and entry.realism_path is not None else 0.0

    def _realism_config(self) -> str:
        """Part of the cache key: the realism and its decoder's weights (none at realism 0, so files decoded
        by the model's own g_s keep their historical key)."""
        from sdpic import zoo

        realism = self.effective_realism()
        if realism == 0.0:
            return ""
        entry = zoo.entry_by_name(self.model or zoo.DEFAULT_MODEL)
        return f",realism={realism:g},realism_weights={zoo.weights_hash(entry.realism_path).hex()}"

    def record(self) -> dict[str, Any]:
        return {**self.options.record(self.model), "realism": self.effective_realism()}

    def is_available(self) -> Availability:
        reason = _import_error_reason()
        if reason:
            return Availability(False, reason)
        if self._unavailable:
            return Availability(False, self._unavailable)
        try:
            self.weights_id()
        except Exception as exc:  # no weights hash: cached streams could not be told apart, so do not run
            return Availability(False, f"cannot hash the weights of model {self.model!r}: {exc}")
        return Availability(True)

    def weights_id(self) -> str:
        """Hex of ``sdpic.zoo.weights_hash`` of this model's weights file (new weights -> new cache entries)."""
        from sdpic import zoo

        entry = zoo.entry_by_name(self.model or zoo.DEFAULT_MODEL)
        return zoo.weights_hash(entry.path).hex()

    def version(self) -> str:
        """sdpic version, model name and the weights hash.

        The version is part of the cache key (:meth:`Codec.key`), so new weights never reuse old streams.
        """
        import sdpic

        try:
            weights = self.weights_id()
        except Exception as exc:  # reported, not hidden; is_available() keeps such a codec from running
            weights = f"unknown: {exc}"
        return f"sdpic {sdpic.__version__} / model {self.model or 'default'} (weights {weights})"

    def encode(self, rgb: np.ndarray, setting: float) -> bytes:
        import sdpic

        kwargs: dict[str, object] = {"quality": float(setting), "saliency": self.options.saliency_for(self.model),
                                     "threads": self.threads}
        if self.model:
            kwargs["model"] = self.model
        if self.options.roi_strength is not None:
            kwargs["roi_strength"] = self.options.roi_strength
        return bytes(sdpic.compress(as_rgb_uint8(rgb), **kwargs))

    def decode(self, data: bytes) -> np.ndarray:
        import sdpic

        img = sdpic.decompress(bytes(data), threads=self.threads, realism=self.realism)
        return np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))


class UnavailableCodec(Codec):
    """Placeholder for a requested codec that cannot run here; it is reported as skipped with ``reason``."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(1)
        self.name = name
        self._reason = reason

    def is_available(self) -> Availability:
        return Availability(False, self._reason)

    def version(self) -> str:
        return f"unavailable: {self._reason}"

    def encode(self, rgb: np.ndarray, setting: float) -> bytes:
        raise NotImplementedError(self._reason)

    def decode(self, data: bytes) -> np.ndarray:
        raise NotImplementedError(self._reason)

"""The realism decoder: a second g_s for the same files, trained adversarially, with realism set per position.

::

    ŷ / gain(q)  (the base model's latents: same file, same bits)
        │        q ──► QualityEncoder ─┐
        │   (q, r) ──► RealismEncoder ─┴─(+)─► conditioning features (SFT, as in the base g_s)
        ▼                                │
      g_s'(ŷ / gain(q), features) ──► x̂_r

    r(p) = R · clamp(1 − (level(p) − base) / LIFT_SPAN, 0, 1)

``R`` in [0, 1] is the realism the user asks for (``sdpic decompress --realism R``); ``r`` is the
*realism map*: wherever the file's quality map lifted a block above the file's global level (the salient
subject of ``--saliency auto``, or a user's region-of-interest mask), realism falls, to 0 at a lift of
``LIFT_SPAN`` levels, so faces, text and the subject stay faithful while texture is synthesised where
people do not look. The map is a function of what the file already holds: nothing goes into the file.

R = 0 never reaches this module: the decoder then runs the base model's own g_s, so every existing file
decodes to the same pixels as before. The encoder, the entropy model and the rate are the base model's,
frozen while this decoder trained (``sdpic.train.realism``); the weights file names the base weights by
hash, and a realism decoder is only ever used with the base weights it was trained for.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..errors import ParameterError
from .layers import QualityEncoder
from .synthesis import StripSynthesis
from .transforms import SynthesisTransform

#: Quality levels a block must be lifted above the file's global level for its realism to fall to 0.
#: The default region-of-interest strength (0.25) lifts a fully salient block by ~10-16 levels.
LIFT_SPAN = 8.0
QUALITY_LEVELS = 64


def check_realism(realism: float) -> float:
    """``realism`` as a float in [0, 1], else :class:`ParameterError`."""
    try:
        value = float(realism)
    except (TypeError, ValueError):
        raise ParameterError(f"realism must be a number in [0, 1], got {realism!r}") from None
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise ParameterError(f"realism must be within [0, 1], got {realism}")
    return value


def realism_map(levels: torch.Tensor, base: torch.Tensor | float, realism: torch.Tensor | float) -> torch.Tensor:
    """Per-block realism (B,1,h,w) in [0, 1] from quality levels (B,1,h,w, 0..64), the files' global levels
    (scalar or (B,)) and the requested realism R (scalar or (B,)): ``R · clamp(1 − lift / LIFT_SPAN, 0, 1)``
    with ``lift = level − base``. Blocks at or below the base level get R; lifted blocks less."""
    levels = levels.float()
    base_t = torch.as_tensor(base, dtype=torch.float32).reshape(-1, 1, 1, 1)
    r_t = torch.as_tensor(realism, dtype=torch.float32).reshape(-1, 1, 1, 1)
    lift = levels - base_t
    return r_t * (1.0 - lift / LIFT_SPAN).clamp(0.0, 1.0)


class RealismEncoder(nn.Module):
    """(quality, realism) maps (B,2,h,w) at latent resolution -> conditioning features added to the quality
    features. Its last layer starts at zero, so a freshly built decoder computes exactly the base g_s."""

    def __init__(self, channels: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(2, channels, 1), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 1),
        )
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, q: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([q, r], dim=1))


class RealismDecoder(nn.Module):
    """See the module docstring. ``forward(y, q, r)``: ŷ / gain(q) (B,M,h,w), q (B,1,h,w) in [0, 1] and the
    realism map r (B,1,h,w) in [0, 1] -> x̂ (B,3,16h,16w), unclamped, as the base g_s."""

    def __init__(self, latent_channels: int = 160, cond_channels: int = 32) -> None:
        super().__init__()
        self.quality_encoder = QualityEncoder(cond_channels)
        self.realism_encoder = RealismEncoder(cond_channels)
        self.g_s = SynthesisTransform(latent_channels, cond_channels)
        self._synthesis: tuple[tuple, StripSynthesis] | None = None

    @classmethod
    def from_base(cls, model: nn.Module) -> RealismDecoder:
        """A decoder that starts as the base model's g_s (and its quality encoder) exactly."""
        decoder = cls(model.config.latent_channels, model.config.cond_channels)
        decoder.quality_encoder.load_state_dict(copy.deepcopy(model.quality_encoder.state_dict()))
        decoder.g_s.load_state_dict(copy.deepcopy(model.g_s.state_dict()))
        return decoder

    def conditioning(self, q: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        """The features the SFT layers of g_s read, (B,cond,h,w)."""
        return self.quality_encoder(q) + self.realism_encoder(q, r.to(q.dtype))

    def forward(self, y: torch.Tensor, q: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        return self.g_s(y, self.conditioning(q, r))

    def prepared_synthesis(self) -> StripSynthesis:
        """g_s prepared for strip decoding (:mod:`.synthesis`), rebuilt whenever the weights changed."""
        versions = tuple((id(t), t._version) for t in self.g_s.parameters())
        if self._synthesis is None or self._synthesis[0] != versions:
            self._synthesis = (versions, StripSynthesis(self.g_s))
        return self._synthesis[1]

    def __getstate__(self) -> dict:  # deep copies (weight averages) leave the prepared copy behind
        state = self.__dict__.copy()
        state["_synthesis"] = None
        return state


__all__ = ["LIFT_SPAN", "RealismDecoder", "RealismEncoder", "check_realism", "realism_map"]

"""The sdpic model: a variable-rate, quality-map-conditioned hyperprior codec with checkerboard context.

::

      x (B,3,H,W) in [0,1]         q: quality map (B,1,H/16,W/16), levels/64 in [0,1]
        │                            │
        │                 QualityEncoder ──► q_features (conditions g_a and g_s, SFT)
        ▼                            │
      g_a(x, q)·gain(q) ──► y ──► h_a ──► z ──► Q ──► ẑ ═══ factorised prior ═══► bits (section "z")
                    │                          │
                    │                          ▼
                    │                  h_s(ẑ)  ──► hyper features (at y's resolution)
                    │                          │
                    │        pass 1 (anchors, (i+j) even):  ep(hyper, 0, q)         ──► μ, σ
                    │        pass 2 (the rest):              ep(hyper, ctx(ŷ_anchors), q) ──► μ, σ
                    ▼                          │
        Q(y − μ) + μ = ŷ  ═══ Gaussian conditional (64 integer tables) ═══► bits (section "y")
                    │
                    ▼
      g_s(ŷ / gain(q), q) ──► x̂

``forward`` is the training graph (uniform noise for the rate, straight-through rounding for the
decoder); ``forward_latents`` is its part from y on, for callers that hold latents of their own.
``compress_latents`` / ``decompress_latents`` are the coding graph: h_s, ctx and ep run as exact integer
networks (:mod:`sdpic.codec.exact`), so decoding is bit-identical everywhere.
The decoder needs exactly two context passes regardless of image size. ``analyse`` / ``synthesise`` run
g_a / g_s on strips through their prepared copies (:mod:`sdpic.codec.analysis`,
:mod:`sdpic.codec.synthesis`): the same functions, arranged for speed (docs/determinism.md).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass
from typing import Literal, TypeVar, get_args

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import FormatError, ParameterError
from ..threads import torch_threads
from . import exact
from .analysis import StripAnalysis
from .coder import TableCoder, check_stream_length, min_symbol_bits, pack_escapes, unpack_escapes
from .entropy import (
    NUM_SCALES,
    SCALE_MAX,
    SCALE_MIN,
    Z_HALF_WIDTH,
    FactorizedPrior,
    GaussianConditional,
    gaussian_tables,
    scale_table,
)
from .synthesis import StripSynthesis, pixels_hwc, to_uint8
from .transforms import (
    AnalysisTransform,
    QualityEncoder,
    SynthesisTransform,
    anchor_mask,
    context_fusion,
    four_neighbours,
    hyper_analysis,
    hyper_synthesis,
    parameter_fusion,
)

#: y is at 1/16 of the image resolution, z at 1/64: images are padded to a multiple of this.
PAD_MULTIPLE = 64
LATENT_STRIDE = 16
QUALITY_LEVELS = 64  # quality map levels are integers 0..64, q = level / 64
# g_s sees 1 latent beyond a position at latent resolution, then 1/2, 1/4, 1/8 more at the higher ones
# (3x3 sub-pixel convs; GDN and the quality modulation are pointwise): 2 latent rows cover it.
SYNTHESIS_HALO = 2
STRIP_LATENTS = 768   # latents per decoder strip: a Kodak image is two strips
MIN_STRIP_ROWS = 16
# g_a: latent row j reads input rows 16j-30 .. 16j+30 (four stride-2 5x5 convs: 2+4+8+16 pixels; GDN and
# the quality modulation are pointwise, and the quality features are computed on the whole map), so a
# halo of 2 latent rows (32 pixels) above and below a strip covers its receptive field.
ANALYSIS_HALO = 2
ANALYSIS_STRIP_LATENTS = 768  # latents per encoder strip: ~50 MB of g_a activations each
# Positions per chunk of the exact context / parameter networks: their float64 activations (4x160
# neighbour channels, 257 fused, 2x160 outputs) cost ~16 kB a position, 0.13 GB a chunk, instead of
# 1.5 GB for a whole 24 MP pass. The networks are exact integer arithmetic, so chunking changes no bit.
CODING_CHUNK = 8192
# Latents and hyper-latents are clamped to +-LATENT_LIMIT before coding (real images stay below ~100),
# so every escaped value (a latent minus a mean of at most +-1024) lies within +-ESCAPE_LIMIT; the
# decoder rejects larger ones. Without the clamp an absurd latent would overflow the int32 escape
# field and the encoder would write a stream its own decoder rejects; with it the decoder's latents,
# hence g_s's inputs, are bounded whatever a file says.
LATENT_LIMIT = float(1 << 15)
ESCAPE_LIMIT = 1 << 16


@dataclass(frozen=True)
class ModelConfig:
    latent_channels: int = 160
    hyper_channels: int = 96
    hyper_features: int = 128
    context_channels: int = 128
    cond_channels: int = 32
    lambda_min: float = 0.0002  # rate-distortion trade-off at quality level 0 (MSE on [0,1] x 255^2)
    lambda_max: float = 0.08    # ... and at level 64

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict | None) -> ModelConfig:
        """The config stored with a checkpoint or weights file. Files written before the config
        recorded λ were all trained with LEGACY_LAMBDA_RANGE, not today's default."""
        fields = dict(record or {})
        if "lambda_min" not in fields and "lambda_max" not in fields:
            fields["lambda_min"], fields["lambda_max"] = LEGACY_LAMBDA_RANGE
        return cls(**fields)


_T = TypeVar("_T")
#: A realism decoder (:class:`sdpic.codec.realism.RealismDecoder`) and its realism map (1,1,h,w).
Realism = tuple[nn.Module, torch.Tensor]

#: Where ``forward_latents`` takes the likelihoods (see there).
RateProxy = Literal["noise", "round", "continuous"]

# λ range of the first runs, before it was widened (its lowest level could not code below ~0.24 bpp).
LEGACY_LAMBDA_RANGE = (0.0015, 0.08)


def ste_round(x: torch.Tensor) -> torch.Tensor:
    """Round in the forward pass, identity gradient in the backward pass."""
    return x + (torch.round(x) - x).detach()


@dataclass
class CodedLatents:
    """The entropy-coded sections of one image (what the container stores)."""

    z_bytes: bytes
    y_bytes: bytes
    escapes: bytes
    latent_height: int
    latent_width: int


class SdpicModel(nn.Module):
    """See the module docstring for the data flow."""

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = config or ModelConfig()
        c = self.config
        self.quality_encoder = QualityEncoder(c.cond_channels)
        self.g_a = AnalysisTransform(c.latent_channels, c.cond_channels)
        self.g_s = SynthesisTransform(c.latent_channels, c.cond_channels)
        self.h_a = hyper_analysis(c.latent_channels, c.hyper_channels)
        self.h_s = hyper_synthesis(c.hyper_channels, c.hyper_features)
        self.context = context_fusion(c.latent_channels, c.context_channels)
        self.params = parameter_fusion(c.hyper_features + c.context_channels + 1, c.latent_channels)
        self.z_prior = FactorizedPrior(c.hyper_channels)
        self.gaussian = GaussianConditional()
        # Gain units (Cui et al. 2021; JPEG AI's 2^(Q/4)): the quantisation step of every latent follows
        # the local quality, log2 gain = base + slope * (q - 1/2) per channel. The initial slope of 3
        # spans the step range that the lambda range implies (step ~ lambda^-1/2, 53x -> 7.3x), so the
        # quality map steers the rate from the first training step; SFT layers refine it.
        self.gain_base = nn.Parameter(torch.zeros(c.latent_channels))
        self.gain_slope = nn.Parameter(torch.full((c.latent_channels,), 3.0))
        freqs, half_widths = gaussian_tables()
        self.register_buffer("y_table_freqs", torch.from_numpy(freqs).to(torch.int32))
        self.register_buffer("y_table_half_widths", torch.from_numpy(half_widths).to(torch.int32))
        log_scales = np.log(scale_table())
        thresholds = np.floor((log_scales[:-1] + log_scales[1:]) / 2.0 * exact.ACT_SCALE + 0.5)
        self.register_buffer("y_scale_thresholds", torch.from_numpy(thresholds).to(torch.int64))
        self._exact_nets: tuple | None = None
        self._coders: tuple[TableCoder, TableCoder] | None = None
        self._synthesis: tuple[tuple, StripSynthesis] | None = None
        self._analysis: tuple[tuple, StripAnalysis] | None = None

    # ------------------------------------------------------------------ training graph
    def lambda_map(self, q: torch.Tensor) -> torch.Tensor:
        """Per-position rate-distortion multiplier for quality values q in [0, 1] (log-linear)."""
        c = self.config
        return c.lambda_min * (c.lambda_max / c.lambda_min) ** q

    def latent_gain(self, q: torch.Tensor) -> torch.Tensor:
        """Per-channel, per-position gain (B,M,h,w) applied to y before quantisation for q (B,1,h,w)."""
        return torch.exp2(self.gain_base[None, :, None, None] + self.gain_slope[None, :, None, None] * (q - 0.5))

    def _gain_from_levels(self, q_levels: torch.Tensor) -> torch.Tensor:
        """Gain for integer levels via a (65, M) table: one small single-threaded exp2, then a gather, so
        the decoder's gain cannot depend on how a thread pool splits a vectorised exp2."""
        levels = torch.arange(QUALITY_LEVELS + 1, dtype=torch.float32) / QUALITY_LEVELS
        table = torch.exp2(self.gain_base[None, :] + self.gain_slope[None, :] * (levels[:, None] - 0.5))
        return table[q_levels[:, 0].long()].permute(0, 3, 1, 2)

    def _entropy_parameters(self, hyper: torch.Tensor, ctx: torch.Tensor, q: torch.Tensor) -> tuple:
        means, log_scales = self.params(torch.cat([hyper, ctx, q], dim=1)).chunk(2, dim=1)
        return means, log_scales

    def forward(self, x: torch.Tensor, q: torch.Tensor, autocast_transforms: bool = False,
                rate_proxy: RateProxy = "noise") -> dict:
        """Training pass. x: (B,3,H,W) in [0,1], H and W multiples of 64; q: (B,1,H/16,W/16) in [0,1].
        ``rate_proxy``: see :meth:`forward_latents`."""
        cast = (torch.autocast(x.device.type, dtype=torch.bfloat16) if autocast_transforms else nullcontext())
        q_features = self.quality_encoder(q)
        q_pixels = q.repeat_interleave(LATENT_STRIDE, 2).repeat_interleave(LATENT_STRIDE, 3)
        with cast:
            y = self.g_a(x, q_pixels, q_features)
        return self.forward_latents(y.float() * self.latent_gain(q), q, q_features, autocast_transforms, rate_proxy)

    def forward_latents(self, y: torch.Tensor, q: torch.Tensor, q_features: torch.Tensor,
                        autocast_transforms: bool = False, rate_proxy: RateProxy = "noise") -> dict:
        """The training graph from gained latents y (B,M,h,w) on: likelihoods of y and z, and x̂.

        ``rate_proxy`` says where the likelihoods are taken: ``"noise"`` at y + U(-1/2, 1/2) (training),
        ``"round"`` at the rounded values the coder sees (straight-through; the model's estimate of the
        real bits), ``"continuous"`` at y itself. The decoder always sees straight-through rounded ŷ.
        """
        if rate_proxy not in get_args(RateProxy):
            raise ParameterError(f"unknown rate proxy {rate_proxy!r}")
        y_hat, y_likelihoods, z_likelihoods = self._quantise(y, q, rate_proxy)
        cast = (torch.autocast(y.device.type, dtype=torch.bfloat16) if autocast_transforms else nullcontext())
        with cast:
            x_hat = self.g_s(y_hat / self.latent_gain(q), q_features)
        return {"x_hat": x_hat.float(), "y_likelihoods": y_likelihoods, "z_likelihoods": z_likelihoods}

    @torch.no_grad()
    def synthesis_inputs(self, x: torch.Tensor, q: torch.Tensor, autocast_transforms: bool = False) -> torch.Tensor:
        """What g_s receives for a batch, ŷ / gain(q) (B,M,h,w): the training graph's rounded latents, without
        gradients. A decoder trained on them with this model frozen decodes this model's files."""
        cast = (torch.autocast(x.device.type, dtype=torch.bfloat16) if autocast_transforms else nullcontext())
        q_pixels = q.repeat_interleave(LATENT_STRIDE, 2).repeat_interleave(LATENT_STRIDE, 3)
        with cast:
            y = self.g_a(x, q_pixels, self.quality_encoder(q))
        y = y.float() * self.latent_gain(q)
        return self._quantise(y, q, "round")[0] / self.latent_gain(q)

    def _quantise(self, y: torch.Tensor, q: torch.Tensor,
                  rate_proxy: RateProxy) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Gained latents -> (ŷ straight-through rounded around the context model's means, likelihoods of y,
        likelihoods of z), with the likelihoods taken where ``rate_proxy`` says."""

        def relaxed(v: torch.Tensor, rounded: torch.Tensor) -> torch.Tensor:
            if rate_proxy == "noise":
                return v + torch.empty_like(v).uniform_(-0.5, 0.5)
            return rounded if rate_proxy == "round" else v

        z = self.h_a(y)
        z_likelihoods = self.z_prior.likelihood(relaxed(z, ste_round(z)))
        hyper = self.h_s(ste_round(z))

        mask = anchor_mask(y.shape[2], y.shape[3], y.device)
        no_context = torch.zeros_like(hyper[:, : self.config.context_channels])
        means_a, log_scales_a = self._entropy_parameters(hyper, no_context, q)
        y_hat_anchor = (ste_round(y - means_a) + means_a) * mask
        ctx = self.context(four_neighbours(y_hat_anchor))
        means_n, log_scales_n = self._entropy_parameters(hyper, ctx, q)
        means = means_a * mask + means_n * (1 - mask)
        scales = torch.exp(log_scales_a * mask + log_scales_n * (1 - mask)).clamp(SCALE_MIN, SCALE_MAX)

        y_hat = ste_round(y - means) + means
        return y_hat, self.gaussian(relaxed(y, y_hat), means, scales), z_likelihoods

    # ------------------------------------------------------------------ coding graph
    def prepare_for_coding(self) -> None:
        """Freeze the z tables and build the exact networks and table coders (call after loading weights)."""
        self._exact_nets = (exact.ExactSequential(self.h_s), exact.ExactSequential(self.context),
                            exact.ExactSequential(self.params))
        self._synthesis = self._analysis = None  # built at first use: a decoder never needs g_a's copy
        z_freqs = self.z_prior.table_freqs.numpy().astype(np.int64)
        z_lengths = np.full(len(z_freqs), z_freqs.shape[1], dtype=np.int64)
        y_freqs = self.y_table_freqs.numpy().astype(np.int64)
        y_lengths = 2 * self.y_table_half_widths.numpy().astype(np.int64) + 2
        self._coders = (TableCoder(z_freqs, z_lengths), TableCoder(y_freqs, y_lengths))
        # Fewest bits any symbol of each table can cost (its most probable entry): lower bounds on the
        # length of a stream, checked before decoding it.
        self._z_min_bits = min_symbol_bits(z_freqs)
        self._y_min_bits = min_symbol_bits(y_freqs)

    def _require_prepared(self) -> tuple:
        if self._exact_nets is None or self._coders is None:
            self.prepare_for_coding()
        return self._exact_nets, self._coders

    def _hyper_and_quality(self, z_hat: torch.Tensor, q_levels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Fixed-point hyper features (1,C,h,w) and quality (1,1,h,w), both float64."""
        hs, _, _ = self._exact_nets
        hyper = hs(exact.to_fixed(z_hat))
        q_fixed = q_levels.double() * (exact.ACT_SCALE / QUALITY_LEVELS)
        return hyper, q_fixed

    def _pass_parameters(self, hyper: torch.Tensor, q_fixed: torch.Tensor,
                         anchors: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Fixed-point means (float64, integer-valued) and scale-table indices (int64), each (M, n), of one
        context pass, in coding order (position-major rows of :func:`checkerboard_split`, channel outer).

        ``hyper`` (C, h, w/2) and ``q_fixed`` (1, h, w/2) are the pass's positions; ``anchors`` (M, h, w/2)
        holds the fixed-point anchors already decoded (None for the anchor pass: no context, so the
        fusion's context inputs are zero and skipped). Runs about CODING_CHUNK positions (whole rows) at a
        time; the networks are exact integer arithmetic, so the chunking changes no bit."""
        _, ctx_net, ep = self._exact_nets
        m, c = self.config.latent_channels, self.config.hyper_features
        ctx_start, q_start = c, c + self.config.context_channels
        _, h, half = hyper.shape
        means = torch.empty(m, h, half, dtype=torch.float64)
        indices = torch.empty(m, h, half, dtype=torch.int64)
        thresholds = self.y_scale_thresholds.to(torch.float64)
        padded = None if anchors is None else F.pad(anchors, (1, 1, 1, 1))
        rows = max(1, CODING_CHUNK // max(half, 1))
        for r0 in range(0, h, rows):
            r1 = min(h, r0 + rows)
            parts = [(0, hyper[:, r0:r1].reshape(c, -1)), (q_start, q_fixed[:, r0:r1].reshape(1, -1))]
            if padded is not None:
                ctx = ctx_net.matrix([(k * m, nb) for k, nb in enumerate(_checkerboard_neighbours(padded, r0, r1))])
                parts.append((ctx_start, ctx))
            out = ep.matrix(parts)
            means[:, r0:r1] = out[:m].view(m, r1 - r0, half)
            indices[:, r0:r1] = torch.searchsorted(thresholds, out[m:], right=True).view(m, r1 - r0, half)
        return means.view(m, -1), indices.view(m, -1)

    def _y_symbol_indices(self, residual: torch.Tensor, table_ids: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Signed integer residuals -> table symbol indices (escape where out of support) and escape values."""
        half = self.y_table_half_widths.to(torch.int64)[table_ids]
        inside = residual.abs() <= half
        idx = torch.where(inside, residual + half, 2 * half + 1)
        return idx.numpy(), residual[~inside].numpy()

    @torch.no_grad()
    def analyse(self, x: torch.Tensor, q_levels: torch.Tensor) -> torch.Tensor:
        """g_a on a padded image (1,3,H,W) with integer quality levels (1,1,H/16,W/16) -> gained y (float32).

        Runs g_a on horizontal strips of latent rows (:func:`analysis_strips`, a function of the size
        only), each with a halo of ANALYSIS_HALO latent rows that covers g_a's receptive field, so the
        latents equal the whole-image ones to float precision. Why: g_a's full-resolution activations
        grow with the image (7 GB at 24 MP untiled, 64 channels at half resolution plus GDN
        temporaries); strips bound them by the strip size. As in :meth:`synthesise`, each strip runs on
        one intra-op thread and the thread count only sets how many strips run at once, so the latents
        (and hence the symbols) do not depend on the thread count either.
        """
        analysis = self._require_analysis()
        q = q_levels.float() / QUALITY_LEVELS
        height, width = q.shape[2], q.shape[3]
        y = torch.empty(1, self.config.latent_channels, height, width)

        def run(strip: tuple[int, int]) -> None:
            top, bottom = strip
            with torch.inference_mode():  # grad mode is per thread
                y[0, :, top:bottom] = analysis.strip(x, q, q_features, top, bottom, ANALYSIS_HALO).permute(2, 0, 1)

        with torch_threads(1):  # its 3x3 conv's sums would depend on the thread count too
            q_features = self.quality_encoder(q)
        _map_strips(run, analysis_strips(height, width))
        return y * self._gain_from_levels(q_levels)

    def _require_analysis(self) -> StripAnalysis:
        if self._analysis is None or self._analysis[0] != _versions(self.g_a):
            self._analysis = (_versions(self.g_a), StripAnalysis(self.g_a))
        return self._analysis[1]

    def _require_synthesis(self) -> StripSynthesis:
        """The decoder's prepared g_s, rebuilt whenever g_s's weights changed since (loading, training steps:
        every in-place change bumps a tensor's version), so it always computes the live g_s."""
        if self._synthesis is None or self._synthesis[0] != _versions(self.g_s):
            self._synthesis = (_versions(self.g_s), StripSynthesis(self.g_s))
        return self._synthesis[1]

    @torch.no_grad()
    def synthesise(self, y_hat: torch.Tensor, q_levels: torch.Tensor, realism: Realism | None = None) -> torch.Tensor:
        """g_s: dequantised latents and integer quality levels -> image in [0,1] (float32, unclamped).

        The same strips and arithmetic as :meth:`synthesise_pixels` (whose pixels are
        ``api.decoded_pixels`` of this), kept as a float image for callers that measure it."""
        _, _, height, width = y_hat.shape
        out = torch.empty(1, 3, height * LATENT_STRIDE, width * LATENT_STRIDE)

        def sink(top: int, bottom: int, rows: torch.Tensor) -> None:
            out[0, :, top * LATENT_STRIDE:bottom * LATENT_STRIDE].permute(1, 2, 0).copy_(pixels_hwc(rows))

        self._synthesise_strips(y_hat, q_levels, sink, realism)
        return out

    @torch.no_grad()
    def synthesise_pixels(self, y_hat: torch.Tensor, q_levels: torch.Tensor, height: int, width: int,
                          realism: Realism | None = None) -> np.ndarray:
        """g_s straight to the decoded image: (height, width, 3) uint8, ``round(clamp(x, 0, 1) * 255)`` of
        :meth:`synthesise`'s output cropped to the image, written strip by strip by the workers (the
        float image never exists as a whole). ``realism``: (realism decoder, realism map (1,1,h,w)) to
        decode with instead of this model's g_s (:mod:`sdpic.codec.realism`); None: this model's g_s."""
        pixels = np.empty((height, width, 3), dtype=np.uint8)

        def sink(top: int, bottom: int, rows: torch.Tensor) -> None:
            to_uint8(rows, pixels[top * LATENT_STRIDE:min(bottom * LATENT_STRIDE, height)])

        self._synthesise_strips(y_hat, q_levels, sink, realism)
        return pixels

    def _synthesise_strips(self, y_hat: torch.Tensor, q_levels: torch.Tensor,
                           sink: Callable[[int, int, torch.Tensor], None], realism: Realism | None = None) -> None:
        """Run g_s on horizontal strips of latent rows (:func:`synthesis_strips`, which depend only on the
        latent size), each on one intra-op thread, the strips spread over ``torch.get_num_threads()``
        worker threads; ``sink(top, bottom, output)`` receives each strip's last-layer output.

        Why strips: oneDNN's convolutions partition their sums by thread count (pixels differed between 1
        and 2 threads), whereas a one-thread convolution of a fixed strip gives the same bits however many
        strips run beside it. So pixels do not depend on the thread count, oneDNN's fast kernels stay
        usable, and peak memory is bounded by the strip size rather than the image size. Each strip reads
        SYNTHESIS_HALO latent rows beyond its own, more than g_s's receptive field; the arithmetic is
        :class:`StripSynthesis` (channels-last, halo trimmed per level)."""
        q = q_levels.float() / QUALITY_LEVELS
        y = y_hat.float() / self._gain_from_levels(q_levels)
        if realism is None:
            synthesis = self._require_synthesis()
            with torch_threads(1):  # its 3x3 conv's sums would depend on the thread count too
                q_features = self.quality_encoder(q)
        else:
            decoder, r = realism
            synthesis = decoder.prepared_synthesis()
            with torch_threads(1):
                q_features = decoder.conditioning(q, r)
        height = y.shape[2]

        def run(strip: tuple[int, int]) -> None:
            top, bottom = strip
            with torch.inference_mode():  # grad mode is per thread
                sink(top, bottom, synthesis.strip(y, q_features, top, bottom, SYNTHESIS_HALO))

        _map_strips(run, synthesis_strips(height, y.shape[3]))

    @torch.no_grad()
    def compress_latents(self, y: torch.Tensor, q_levels: torch.Tensor) -> tuple[CodedLatents, torch.Tensor]:
        """Entropy-code latents y (1,M,h,w). Returns the coded sections and ŷ (what the decoder will see)."""
        with _coding_threads(y.shape[2], y.shape[3]):
            return self._compress_latents(y, q_levels)

    def _compress_latents(self, y: torch.Tensor, q_levels: torch.Tensor) -> tuple[CodedLatents, torch.Tensor]:
        _, (z_coder, y_coder) = self._require_prepared()
        m = self.config.latent_channels
        _, _, h, w = y.shape
        _check_latent_size(h, w)
        y = y.clamp(-LATENT_LIMIT, LATENT_LIMIT)
        with torch_threads(1):  # float h_a: one thread, so rounding z cannot depend on the count
            z = self.h_a(y)
        z_hat = torch.round(z.clamp(-LATENT_LIMIT, LATENT_LIMIT)).to(torch.int64)
        z_idx, z_ids, z_esc = self._z_symbols(z_hat)
        hyper, q_fixed = self._hyper_and_quality(z_hat.double(), q_levels)
        hyper_passes, q_passes = checkerboard_split(hyper[0]), checkerboard_split(q_fixed[0])

        streams, escapes, y_hat_passes = [], [z_esc], []
        anchors = None
        for pass_no, y_pass in enumerate(checkerboard_split(y[0].double())):
            means_fixed, scale_idx = self._pass_parameters(hyper_passes[pass_no], q_passes[pass_no], anchors)
            y_flat = y_pass.reshape(m, -1)
            residual = torch.round(y_flat - exact.from_fixed(means_fixed)).to(torch.int64)
            y_hat_passes.append(residual.double() + exact.from_fixed(means_fixed))
            if pass_no == 0:
                anchors = _fixed_latents(residual, means_fixed).view(m, h, w // 2)
            ids = scale_idx.flatten()
            idx, esc = self._y_symbol_indices(residual.flatten(), ids)
            streams.append(y_coder.encode(idx, ids.numpy()))
            escapes.append(esc)
        y_bytes = join_streams(streams)
        z_bytes = z_coder.encode(z_idx, z_ids)
        coded = CodedLatents(z_bytes, y_bytes, pack_escapes(escapes), h, w)
        y_hat = checkerboard_join([t.view(m, h, w // 2) for t in y_hat_passes], torch.float32)
        return coded, y_hat[None]

    def _z_symbols(self, z_hat: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        c = z_hat.shape[1]
        offsets = self.z_prior.table_offsets.to(torch.int64)[None, :, None, None]
        rel = (z_hat - offsets)[0].flatten(1)  # (C, n)
        ids = torch.arange(c)[:, None].expand_as(rel).flatten()
        rel = rel.flatten()
        inside = rel.abs() <= Z_HALF_WIDTH
        idx = torch.where(inside, rel + Z_HALF_WIDTH, torch.full_like(rel, 2 * Z_HALF_WIDTH + 1))
        return idx.numpy(), ids.numpy(), (rel[~inside] + offsets.flatten()[ids[~inside]]).numpy()

    @torch.no_grad()
    def decompress_latents(self, coded: CodedLatents, q_levels: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`compress_latents`: coded sections -> ŷ (1,M,h,w), bit-identical to the encoder's."""
        with _coding_threads(coded.latent_height, coded.latent_width):
            return self._decompress_latents(coded, q_levels)

    def _decompress_latents(self, coded: CodedLatents, q_levels: torch.Tensor) -> torch.Tensor:
        _, (z_coder, y_coder) = self._require_prepared()
        c = self.config
        h, w = coded.latent_height, coded.latent_width
        _check_latent_size(h, w)
        zh, zw = h // 4, w // 4
        escapes = _EscapeReader(unpack_escapes(coded.escapes))

        z_ids = np.repeat(np.arange(c.hyper_channels), zh * zw)
        check_stream_length(coded.z_bytes, zh * zw * float(self._z_min_bits.sum()), "hyper-latent")
        offsets = Z_HALF_WIDTH - self.z_prior.table_offsets.numpy().astype(np.int64)
        z_vals, z_escaped = z_coder.decode_values(coded.z_bytes, z_ids, offsets)
        escapes.fill_at(z_vals, z_escaped)
        z_hat = torch.from_numpy(z_vals).reshape(1, c.hyper_channels, zh, zw)
        hyper, q_fixed = self._hyper_and_quality(z_hat.double(), q_levels)
        hyper_passes, q_passes = checkerboard_split(hyper[0]), checkerboard_split(q_fixed[0])

        m = c.latent_channels
        half_widths = self.y_table_half_widths.numpy().astype(np.int64)
        # Pass 2's table ids depend on pass 1's values, so each pass is its own ANS stream.
        streams = _split_streams(coded.y_bytes)
        if len(streams) != 2:
            raise FormatError("latent section must hold exactly two context passes")
        y_hat_passes = []
        anchors = None
        for pass_no in range(2):
            means_fixed, scale_idx = self._pass_parameters(hyper_passes[pass_no], q_passes[pass_no], anchors)
            ids = scale_idx.flatten().numpy()
            check_stream_length(streams[pass_no], float(self._y_min_bits[ids].sum()), "latent")
            values, escaped = y_coder.decode_values(streams[pass_no], ids, half_widths)
            escapes.fill_at(values, escaped)
            residual = torch.from_numpy(values).view(m, -1)
            y_hat_passes.append(residual.double() + exact.from_fixed(means_fixed))
            if pass_no == 0:
                anchors = _fixed_latents(residual, means_fixed).view(m, h, w // 2)
        escapes.finish()
        return checkerboard_join([t.view(m, h, w // 2) for t in y_hat_passes], torch.float32)[None]


class _EscapeReader:
    """Hands out raw escaped values in decoding order, checking the section holds exactly enough."""

    def __init__(self, values: np.ndarray) -> None:
        if len(values) and int(np.abs(values).max()) > ESCAPE_LIMIT:
            raise FormatError(f"escaped value beyond +-{ESCAPE_LIMIT} (no encoder writes one)")
        self.values, self.pos = values, 0

    def fill_at(self, target: np.ndarray, positions: np.ndarray) -> None:
        """Set target[positions] (ascending) to the next raw values."""
        count = len(positions)
        if self.pos + count > len(self.values):
            raise FormatError("escape section is shorter than the coded data requires")
        target[positions] = self.values[self.pos: self.pos + count]
        self.pos += count

    def finish(self) -> None:
        if self.pos != len(self.values):
            raise FormatError("escape section has trailing values")


def _versions(module: nn.Module) -> tuple:
    """Version counters of a module's tensors (and their identities): they change with the weights."""
    return tuple((id(t), t._version) for t in (*module.parameters(), *module.buffers()))


def _coding_threads(h: int, w: int) -> AbstractContextManager:
    """One torch thread for the coding graph of a small grid (under 2 CODING_CHUNKs of latents, ~4 MP): its
    GEMMs are too small to split, and waking a second thread for each costs more than it saves (a Kodak
    image decoded its latents 2x slower on 2 threads). Larger grids keep the caller's threads. The exact
    networks give the same bits on any thread count, so this is speed only."""
    return torch_threads(1) if h * w < 2 * CODING_CHUNK else nullcontext()


def _check_latent_size(h: int, w: int) -> None:
    """Latent grids are padded images / LATENT_STRIDE, so multiples of PAD_MULTIPLE / LATENT_STRIDE: even,
    which the checkerboard passes' strided layout relies on."""
    if h % 2 or w % 2 or h < 1 or w < 1:
        raise ParameterError(f"latent grid {h}x{w} is not a padded image's (sides must be even)")


def checkerboard_split(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(C, h, w) with h, w even -> (anchors, non-anchors), each (C, h, w/2), contiguous.

    Row r of the anchors holds columns r % 2, r % 2 + 2, ... (positions with (row + col) even), row r of
    the non-anchors the others: flattened, both are the passes' positions in row-major order, the order
    the coder has always used. Four strided copies, no index gather."""
    c, h, w = t.shape
    v = t.view(c, h // 2, 2, w // 2, 2)
    anchors = torch.stack([v[:, :, 0, :, 0], v[:, :, 1, :, 1]], dim=2).view(c, h, w // 2)
    others = torch.stack([v[:, :, 0, :, 1], v[:, :, 1, :, 0]], dim=2).view(c, h, w // 2)
    return anchors, others


def checkerboard_join(passes: list[torch.Tensor], dtype: torch.dtype) -> torch.Tensor:
    """Inverse of :func:`checkerboard_split`: (anchors, non-anchors) -> (C, h, w) of ``dtype``."""
    anchors, others = passes
    c, h, half = anchors.shape
    out = torch.empty(c, h, 2 * half, dtype=dtype)
    v = out.view(c, h // 2, 2, half, 2)
    a, o = anchors.view(c, h // 2, 2, half), others.view(c, h // 2, 2, half)
    v[:, :, 0, :, 0], v[:, :, 1, :, 1] = a[:, :, 0], a[:, :, 1]
    v[:, :, 0, :, 1], v[:, :, 1, :, 0] = o[:, :, 0], o[:, :, 1]
    return out


def _checkerboard_neighbours(padded: torch.Tensor, r0: int, r1: int) -> list[torch.Tensor]:
    """The four anchor neighbours (up, down, left, right: the order of ``transforms.four_neighbours``) of
    the non-anchor positions in rows [r0, r1), each (M, n) contiguous, from the fixed-point anchors
    (M, h, w/2) zero-padded by one on every side. Non-anchor k of row r is at column 2k + 1 - r % 2: its
    upper and lower neighbours are anchor k of rows r -+ 1; its left one anchor k (r even) or k - 1 (r odd)
    of its row, its right one k + 1 (r even) or k."""
    m, _, half2 = padded.shape
    half = half2 - 2
    up = padded[:, r0:r1, 1:half + 1]
    down = padded[:, r0 + 2:r1 + 2, 1:half + 1]
    left = torch.empty(m, r1 - r0, half, dtype=padded.dtype)
    right = torch.empty_like(left)
    even = r0 % 2  # first even row of the chunk, relative to r0
    for rel, col_left in ((even, 1), (1 - even, 0)):
        rows = padded[:, r0 + 1 + rel:r1 + 1:2]
        left[:, rel::2] = rows[:, :, col_left:col_left + half]
        right[:, rel::2] = rows[:, :, col_left + 1:col_left + 1 + half]
    return [up.reshape(m, -1), down.reshape(m, -1), left.view(m, -1), right.view(m, -1)]


def _fixed_latents(residual: torch.Tensor, means_fixed: torch.Tensor) -> torch.Tensor:
    """``exact.to_fixed(residual + means)`` without the float detour: ŷ·2^ACT_BITS is an integer exactly."""
    return (residual.double() * exact.ACT_SCALE + means_fixed).clamp_(-exact.ACT_LIMIT, exact.ACT_LIMIT)


def _map_strips(run: Callable[[tuple[int, int]], _T], strips: list[tuple[int, int]]) -> list[_T]:
    """``run`` on every strip, each on one intra-op thread, ``torch.get_num_threads()`` strips at a time.

    Each worker pins its own OpenMP team to one thread (oneDNN does not go through torch's lazy
    per-thread initialisation); the caller's thread setting is restored afterwards. The workers live for
    this call only, so their buffers (:meth:`StripSynthesis.buffers`) go with them.
    """
    workers = min(torch.get_num_threads(), len(strips))
    with torch_threads(1), ThreadPoolExecutor(workers, initializer=torch.set_num_threads,
                                                    initargs=(1,)) as pool:
        return list(pool.map(run, strips))


def _row_strips(latent_height: int, latent_width: int, latents_per_strip: int) -> list[tuple[int, int]]:
    """Row ranges [top, bottom): about ``latents_per_strip`` latents each, at least MIN_STRIP_ROWS rows
    (so the halo stays a small overhead). A function of the size only."""
    rows = max(MIN_STRIP_ROWS, -(-latents_per_strip // max(latent_width, 1)))
    return [(top, min(top + rows, latent_height)) for top in range(0, latent_height, rows)]


def latent_size(height: int, width: int) -> tuple[int, int]:
    """Latent rows and columns of an image: padded to a multiple of PAD_MULTIPLE, then /LATENT_STRIDE."""
    return ((height + (-height) % PAD_MULTIPLE) // LATENT_STRIDE,
            (width + (-width) % PAD_MULTIPLE) // LATENT_STRIDE)


def synthesis_strips(latent_height: int, latent_width: int) -> list[tuple[int, int]]:
    """The strips g_s runs on (STRIP_LATENTS latents each)."""
    return _row_strips(latent_height, latent_width, STRIP_LATENTS)


def analysis_strips(latent_height: int, latent_width: int) -> list[tuple[int, int]]:
    """The strips g_a runs on (ANALYSIS_STRIP_LATENTS latents each), so the encoder's output is a
    function of the size only too."""
    return _row_strips(latent_height, latent_width, ANALYSIS_STRIP_LATENTS)


def _split_streams(data: bytes) -> list[bytes]:
    """The y section is two length-prefixed ANS streams (one per context pass)."""
    out, pos = [], 0
    while pos < len(data):
        if pos + 4 > len(data):
            raise FormatError("latent section is truncated")
        n = int.from_bytes(data[pos: pos + 4], "big")
        pos += 4
        if pos + n > len(data):
            raise FormatError("latent section is truncated")
        out.append(data[pos: pos + n])
        pos += n
    return out


def join_streams(streams: list[bytes]) -> bytes:
    return b"".join(len(s).to_bytes(4, "big") + s for s in streams)


__all__ = ["NUM_SCALES", "PAD_MULTIPLE", "QUALITY_LEVELS", "CodedLatents", "ModelConfig", "SdpicModel"]

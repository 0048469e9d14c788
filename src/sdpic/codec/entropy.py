"""Entropy models: the factorised prior for hyper-latents z, the Gaussian conditional for latents y,
and the integer frequency tables the coder uses.

Determinism lives here and in :mod:`sdpic.codec.exact`: every probability the coder sees is a row of
an integer frequency table stored in the weights file, selected by an integer index. The decoder
never evaluates a density in floating point, so it cannot disagree with the encoder about a table.

Contract of a frequency table row: ``int64`` frequencies, every entry >= 1, summing to exactly
``TABLE_TOTAL``; the last entry is the escape symbol (value coded raw in the escape section).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

TABLE_PRECISION = 16
TABLE_TOTAL = 1 << TABLE_PRECISION
LIKELIHOOD_BOUND = 1e-9

#: Scale table for the Gaussian conditional: 64 scales, log-spaced (as CompressAI's get_scale_table).
SCALE_MIN, SCALE_MAX, NUM_SCALES = 0.11, 64.0, 64
#: Half-width of the support of the z tables, around each channel's integer median.
Z_HALF_WIDTH = 24


def scale_table() -> np.ndarray:
    """The 64 Gaussian scales (float64), log-spaced from SCALE_MIN to SCALE_MAX."""
    return np.exp(np.linspace(math.log(SCALE_MIN), math.log(SCALE_MAX), NUM_SCALES))


def quantize_pmf(pmf: np.ndarray) -> np.ndarray:
    """Turn a probability vector (escape mass last) into integer frequencies >= 1 summing to TABLE_TOTAL."""
    pmf = np.clip(np.asarray(pmf, dtype=np.float64), 0.0, None)
    pmf = pmf / pmf.sum()
    freqs = np.maximum(1, np.floor(pmf * (TABLE_TOTAL - len(pmf)) + 0.5).astype(np.int64))
    freqs[int(np.argmax(freqs))] += TABLE_TOTAL - int(freqs.sum())
    if freqs.min() < 1 or int(freqs.sum()) != TABLE_TOTAL:  # only if the vector has > TABLE_TOTAL entries
        raise ValueError("probability vector too long for the table precision")
    return freqs


def gaussian_tables() -> tuple[np.ndarray, np.ndarray]:
    """Integer tables for zero-mean Gaussians at each table scale, over ``[-R, R]`` plus an escape.

    Returns ``(freqs, half_widths)``: freqs is ``(NUM_SCALES, max_len)`` with unused entries 0.
    """
    from scipy.special import ndtr

    scales = scale_table()
    half_widths = np.minimum(np.ceil(6.0 * scales).astype(np.int64) + 1, 400)
    max_len = int(2 * half_widths.max() + 2)
    freqs = np.zeros((NUM_SCALES, max_len), dtype=np.int64)
    for k, (sigma, r) in enumerate(zip(scales, half_widths, strict=True)):
        values = np.arange(-r, r + 1, dtype=np.float64)
        pmf = ndtr((values + 0.5) / sigma) - ndtr((values - 0.5) / sigma)
        escape = max(1.0 - pmf.sum(), 0.0)
        freqs[k, : 2 * r + 2] = quantize_pmf(np.append(pmf, escape))
    return freqs, half_widths


class GaussianConditional(nn.Module):
    """Likelihood of latents under N(mu, sigma), integrated over the quantisation bin."""

    def forward(self, y_tilde: torch.Tensor, means: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
        scales = scales.clamp(SCALE_MIN, SCALE_MAX)
        values = (y_tilde - means).abs()
        # Upper tail written as 1 - cdf on the negative side for numerical accuracy.
        upper = _std_normal_cdf((0.5 - values) / scales)
        lower = _std_normal_cdf((-0.5 - values) / scales)
        return (upper - lower).clamp_min(LIKELIHOOD_BOUND)


def _std_normal_cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * torch.erfc(-x * (2.0 ** -0.5))


class FactorizedPrior(nn.Module):
    """Ballé et al. 2018's non-parametric factorised density, one per channel of z.

    The cumulative is a per-channel monotone network; the likelihood of a value is the cumulative's
    increase over the unit bin around it. After training, :meth:`build_tables` turns it into
    integer tables (stored with the weights) so coding never evaluates the network.
    """

    def __init__(self, channels: int, filters: tuple[int, ...] = (3, 3, 3), init_scale: float = 10.0) -> None:
        super().__init__()
        self.channels = channels
        dims = (1, *filters, 1)
        scale = init_scale ** (1.0 / (len(filters) + 1))
        self.matrices = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.factors = nn.ParameterList()
        for i in range(len(filters) + 1):
            init = math.log(math.expm1(1.0 / scale / dims[i + 1]))
            self.matrices.append(nn.Parameter(torch.full((channels, dims[i + 1], dims[i]), init)))
            self.biases.append(nn.Parameter(torch.empty(channels, dims[i + 1], 1).uniform_(-0.5, 0.5)))
            if i < len(filters):
                self.factors.append(nn.Parameter(torch.zeros(channels, dims[i + 1], 1)))
        self.register_buffer("table_freqs", torch.zeros(channels, 2 * Z_HALF_WIDTH + 2, dtype=torch.int32))
        self.register_buffer("table_offsets", torch.zeros(channels, dtype=torch.int32))

    def _logits_cumulative(self, x: torch.Tensor) -> torch.Tensor:
        """x: (C, 1, N) -> logits of the cumulative, same shape."""
        for i, (matrix, bias) in enumerate(zip(self.matrices, self.biases, strict=True)):
            x = torch.matmul(F.softplus(matrix), x) + bias
            if i < len(self.factors):
                x = x + torch.tanh(self.factors[i]) * torch.tanh(x)
        return x

    def likelihood(self, z_tilde: torch.Tensor) -> torch.Tensor:
        """Likelihood of z (B, C, H, W) under the factorised density."""
        b, c, h, w = z_tilde.shape
        values = z_tilde.permute(1, 0, 2, 3).reshape(c, 1, -1).float()
        lower = self._logits_cumulative(values - 0.5)
        upper = self._logits_cumulative(values + 0.5)
        sign = -torch.sign(lower + upper).detach()  # evaluate in the tail with better precision
        like = (torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower)).abs()
        return like.clamp_min(LIKELIHOOD_BOUND).reshape(c, b, h, w).permute(1, 0, 2, 3)

    @torch.no_grad()
    def build_tables(self) -> None:
        """Freeze the density into integer tables around each channel's integer median."""
        device = self.matrices[0].device
        grid = torch.arange(-512, 513, dtype=torch.float32, device=device)
        cdf = torch.sigmoid(self._logits_cumulative(grid.expand(self.channels, 1, -1) + 0.5))[:, 0, :]
        medians = grid[(cdf < 0.5).sum(dim=1).clamp(max=len(grid) - 1)]
        offsets = medians.round().to(torch.int64)
        values = offsets[:, None] + torch.arange(-Z_HALF_WIDTH, Z_HALF_WIDTH + 1, device=device)[None, :]
        v = values.to(torch.float32)[:, None, :]
        pmf = (torch.sigmoid(self._logits_cumulative(v + 0.5)) - torch.sigmoid(self._logits_cumulative(v - 0.5)))
        pmf = pmf[:, 0, :].double().cpu().numpy()
        freqs = np.stack([quantize_pmf(np.append(p, max(1.0 - p.sum(), 0.0))) for p in pmf])
        self.table_freqs.copy_(torch.from_numpy(freqs).to(torch.int32))
        self.table_offsets.copy_(offsets.to(torch.int32))

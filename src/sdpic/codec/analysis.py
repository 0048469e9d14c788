"""The encoder's g_a, prepared for speed: channels-last float32 strips, rows trimmed level by level.

The counterpart of :mod:`sdpic.codec.synthesis` for :class:`AnalysisTransform` (the training graph):
the same function of the same weights on horizontal strips of latent rows (``model.analysis_strips``),
each on one intra-op thread, with

* channels-last activations (oneDNN's convolutions without reorders; GDN's 1x1 convolution as one GEMM),
* each level computing only the rows the next 5x5 stride-2 convolution reads (an output row r reads
  input rows 2r-2 .. 2r+2) instead of the whole halo at every level,
* GDN's division and the quality modulation on cache-sized tiles of rows, in reused per-thread buffers,
* subnormal GDN weights flushed to zero (no effect on a sum with beta >= 1e-6; 5x faster GEMMs).

Latents agree with the training graph to float precision (tests/codec/test_model.py: strips vs the whole
image, relative 1e-5); the symbols are ``round(y - mu)``, so a latent within that distance of a rounding
boundary can round the other way than under the training graph's kernels, as on another CPU
(docs/determinism.md). Thread count and batching never change them: a strip's arithmetic depends on its
rows and the image size only.
"""

from __future__ import annotations

import threading

import torch
import torch.nn.functional as F

from .synthesis import _TILE, _Buffers, _flushed
from .transforms import AnalysisTransform

#: g_a's downsampling factor per level and its convolutions' geometry (5x5, stride 2, padding 2).
_KERNEL, _STRIDE, _PAD = 5, 2, 2


class StripAnalysis:
    """g_a of an :class:`AnalysisTransform`, frozen for encoding strips (see the module docstring)."""

    def __init__(self, g_a: AnalysisTransform) -> None:
        with torch.no_grad():
            self.convs = []
            for conv in g_a.convs:
                if conv.kernel_size != (_KERNEL, _KERNEL) or conv.stride != (_STRIDE, _STRIDE) or \
                        conv.padding != (_PAD, _PAD):
                    raise ValueError("g_a's convolutions are 5x5, stride 2, padding 2")
                self.convs.append((conv.weight.detach().float().contiguous(memory_format=torch.channels_last),
                                   conv.bias.detach().float().clone()))
            self.gdns = []
            for gdn in g_a.gdns:
                if gdn.inverse:
                    raise ValueError("g_a uses forward GDN")
                beta = gdn.beta_sqrt.detach().float().square() + 1e-6
                gamma = _flushed(gdn.gamma_sqrt.detach().float().square()[:, :, 0, 0])
                self.gdns.append((beta, gamma.t().contiguous()))
            self.mods = []
            for mod in g_a.mods:
                weight = mod.to_affine.weight.detach().float()[:, :, 0, 0]
                self.mods.append((mod.to_affine.bias.detach().float().clone(), weight.t().contiguous()))
        self._local = threading.local()
        self.levels = len(self.convs)


    def __getstate__(self) -> dict:  # copies and pickles (a deep-copied model) leave the thread buffers behind
        return {k: v for k, v in self.__dict__.items() if k != "_local"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._local = threading.local()
    def _buffers(self) -> _Buffers:
        buffers = getattr(self._local, "buffers", None)
        if buffers is None:
            buffers = self._local.buffers = _Buffers()
        return buffers

    @torch.no_grad()
    def strip(self, x: torch.Tensor, q: torch.Tensor, q_features: torch.Tensor, top: int, bottom: int,
              halo: int) -> torch.Tensor:
        """Latents (bottom-top, w, M) channels-last (ungained) of latent rows [top, bottom) of the padded image
        ``x`` (1,3,H,W) with quality q (1,1,h,w) in [0,1] and its features (1,cond,h,w). Reads ``halo``
        latent rows above and below (2 cover g_a's receptive field; fewer are zero padding)."""
        height, width = q.shape[2], q.shape[3]
        stride = 1 << self.levels
        lo, hi = max(0, top - halo), min(height, bottom + halo)
        # The rows each level must provide, from the latents back to the pixels.
        want = [(top, bottom)]
        for level in range(self.levels - 1, -1, -1):
            c, d = want[0]
            want.insert(0, (max(_STRIDE * c - _PAD, 0), min(_STRIDE * d + 1, height << (self.levels - level))))
        a, b = max(want[0][0], lo * stride), min(want[0][1], hi * stride)
        h = torch.empty(1, b - a, x.shape[3], 4)
        h[0, :, :, :3] = x[0, :, a:b].permute(1, 2, 0)
        h[0, :, :, 3] = q[0, 0, torch.div(torch.arange(a, b), stride, rounding_mode="floor")].repeat_interleave(
            stride, dim=1)
        q_rows = q_features[0, :, lo:hi].permute(1, 2, 0)
        have = (a, b)
        buffers = self._buffers()
        for level, conv in enumerate(self.convs, start=1):
            out = F.conv2d(h.permute(0, 3, 1, 2), conv[0], conv[1], stride=_STRIDE, padding=_PAD).permute(0, 2, 3, 1)
            first = have[0] // _STRIDE
            c, d = max(want[level][0], first), min(want[level][1], first + out.shape[1])
            out = out[:, c - first:d - first]
            if level == self.levels:
                return out[0]
            _, rows, cols, ch = out.shape
            beta, gamma_t = self.gdns[level - 1]
            bias, weight = self.mods[level - 1]
            affine = torch.addmm(bias, q_rows.reshape(-1, q_rows.shape[2]), weight)
            scale, shift = affine[:, :ch].add(1.0).view(hi - lo, width, ch), affine[:, ch:].reshape(hi - lo, width, ch)
            f = stride >> level  # rows (and columns) of this level per latent
            at = torch.div(torch.arange(c, d), f, rounding_mode="floor") - lo
            scale, shift = scale[at][:, :, None], shift[at][:, :, None]
            result = buffers.get(2, rows * cols * ch).view(rows, cols, ch)
            step = max(1, _TILE // (cols * ch))
            for r0 in range(0, rows, step):  # tiles of rows that stay in the core's cache
                r1 = min(rows, r0 + step)
                n = (r1 - r0) * cols
                flat = out[0, r0:r1].reshape(n, ch)
                norm = torch.addmm(beta, torch.abs(flat, out=buffers.get(0, n * ch).view(n, ch)), gamma_t,
                                   out=buffers.get(1, n * ch).view(n, ch))
                torch.div(flat, norm, out=norm)  # GDN: x / (beta + gamma |x|)
                view = norm.view(r1 - r0, width, f, ch)
                torch.addcmul(shift[r0:r1], view, scale[r0:r1], out=result[r0:r1].view(r1 - r0, width, f, ch))
            del out
            norm = result
            h = norm.view(1, rows, cols, ch)
            have = (c, d)
        raise AssertionError("unreachable")

"""The decoder's g_s, prepared for speed: channels-last float32 strips, halos trimmed level by level.

:class:`SynthesisTransform` (``transforms.py``) is the training graph. Decoding runs the same function
of the same weights on horizontal strips of latent rows (``model.synthesis_strips``), one strip per
intra-op thread, but arranged for a 2-core CPU (measured in ``results/codec/decode_profile.md``):

* **Channels-last.** Activations are (rows, columns, channels) matrices: oneDNN's convolutions take them
  without reordering, and GDN's 1x1 convolution is one GEMM (``addmm``) on them.
* **Sub-pixel output order (i, j, c).** Each up-convolution's output channels are permuted so that the
  four sub-pixels' channels are contiguous blocks: GDN (per pixel, across channels) then runs on the
  un-shuffled output, and the pixel shuffle is fused into the quality modulation, which writes its result
  straight into the shuffled layout (one pass instead of three).
* **Halo trimmed per level.** A strip needs 2 latent rows of context (``model.SYNTHESIS_HALO``) at the
  first layer, but each later 3x3 convolution only one row of its own resolution: every level computes
  only the rows the next one reads (border rows use the image's zero padding), ~4% more than the strip
  instead of 25%.
* **No denormals.** A few squared GDN weights are subnormal floats (~1e-42); they add nothing to a sum of
  normal numbers but make the CPU's multiply microcoded (GEMMs 5x slower). They are flushed to zero.
* **Cache-sized tiles, reused buffers.** GDN and the modulation run on tiles of rows (1 MB) whose
  temporaries stay in the core's cache (1.6x faster than whole-strip passes), in buffers each worker
  thread keeps between strips: fresh ~50 MB tensors cost page faults on every operation.
* **Pixels in the worker.** The last layer writes clamped, rounded uint8 rows of the strip straight into
  the output image (``to_uint8``), so the float image never exists as a whole.

The float operations differ from the training graph's only in summation order and layout, so outputs
agree to float precision (tests/codec/test_synthesis.py: 2e-5 of the output scale; decoded pixels
differ by at most one level on rare pixels); determinism is unchanged: a strip's arithmetic depends on
its rows and the image size only, never on the thread count (docs/determinism.md).
"""

from __future__ import annotations

import threading

import numpy as np
import torch
import torch.nn.functional as F

from .transforms import SynthesisTransform

#: Floats per tile of GDN and modulation work (1 MB: the tile's temporaries stay in a core's L2 cache).
_TILE = 1 << 18
#: Smallest normal float32: GDN weights below it are flushed to zero.
_TINY = torch.finfo(torch.float32).tiny


def _flushed(t: torch.Tensor) -> torch.Tensor:
    return torch.where(t.abs() < _TINY, torch.zeros_like(t), t)


def _sub_pixel_major(weight: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Permute a sub-pixel convolution's output channels from pixel_shuffle's (c, i, j) to (i, j, c)."""
    cout = weight.shape[0] // 4
    perm = torch.tensor([c * 4 + i * 2 + j for i in range(2) for j in range(2) for c in range(cout)])
    return weight[perm], bias[perm]


class _Buffers:
    """A worker thread's reusable float32 buffers, grown on demand."""

    def __init__(self) -> None:
        self._buffers: dict[int, torch.Tensor] = {}

    def get(self, key: int, numel: int) -> torch.Tensor:
        buf = self._buffers.get(key)
        if buf is None or buf.numel() < numel:
            buf = self._buffers[key] = torch.empty(numel)
        return buf[:numel]


class StripSynthesis:
    """g_s of a :class:`SynthesisTransform`, frozen for decoding strips (see the module docstring)."""

    def __init__(self, g_s: SynthesisTransform) -> None:
        with torch.no_grad():
            self.ups = []
            for up in g_s.ups:
                w, b = _sub_pixel_major(_flushed(up.conv.weight.detach().float()), up.conv.bias.detach().float())
                self.ups.append((w.contiguous(memory_format=torch.channels_last), b.contiguous()))
            self.gdns = []
            for gdn in g_s.igdns:
                if not gdn.inverse:
                    raise ValueError("g_s uses inverse GDN")
                beta = gdn.beta_sqrt.detach().float().square() + 1e-6
                gamma = _flushed(gdn.gamma_sqrt.detach().float().square()[:, :, 0, 0])
                self.gdns.append((beta, gamma.t().contiguous()))
            self.mods = []
            for mod in [g_s.in_mod, *g_s.mods]:
                weight = mod.to_affine.weight.detach().float()[:, :, 0, 0]
                self.mods.append((mod.to_affine.bias.detach().float().clone(), weight.t().contiguous()))
        self._local = threading.local()


    def __getstate__(self) -> dict:  # copies and pickles (a deep-copied model) leave the thread buffers behind
        return {k: v for k, v in self.__dict__.items() if k != "_local"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._local = threading.local()
    def buffers(self) -> _Buffers:
        """This thread's buffers, kept between its strips (two tiles of 1 MB and one level's output, ~50 MB
        for a 4352-pixel-wide strip); they go with the thread."""
        buffers = getattr(self._local, "buffers", None)
        if buffers is None:
            buffers = self._local.buffers = _Buffers()
        return buffers

    def _affine(self, level: int, q_rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Quality modulation of ``level`` for quality features (rows, w, cond): (1 + scale, shift), each
        (rows, w, C)."""
        bias, weight = self.mods[level]
        rows, w, cond = q_rows.shape
        out = torch.addmm(bias, q_rows.reshape(rows * w, cond), weight)
        c = out.shape[1] // 2
        return out[:, :c].add(1.0).view(rows, w, c), out[:, c:].reshape(rows, w, c)

    @staticmethod
    def _conv(x: torch.Tensor, conv: tuple[torch.Tensor, torch.Tensor], have: tuple[int, int],
              want: tuple[int, int], total: int) -> torch.Tensor:
        """3x3 convolution (padding 1) of NHWC features ``x`` holding rows ``have`` of a level with
        ``total`` rows -> NHWC output rows ``want``. Reads rows want -+ 1 only; an interior strip gets no
        vertical padding, so no row is computed that is thrown away."""
        lo, hi = max(want[0] - 1, 0), min(want[1] + 1, total)
        border = want[0] == 0 or want[1] == total
        out = F.conv2d(x[:, lo - have[0]:hi - have[0]].permute(0, 3, 1, 2), conv[0], conv[1],
                       padding=(1, 1) if border else (0, 1)).permute(0, 2, 3, 1)
        first = lo if border else lo + 1
        return out[:, want[0] - first:want[1] - first]

    @torch.no_grad()
    def strip(self, y: torch.Tensor, q_features: torch.Tensor, top: int, bottom: int, halo: int) -> torch.Tensor:
        """g_s for latent rows [top, bottom) of the dequantised latents ``y`` (1,M,H,w) with quality
        features (1,cond,H,w): the last layer's output (1, 8(bottom-top), 8w, 12) channels-last, sub-pixel
        major (see :func:`pixels_hwc`), not clamped. ``halo`` latent rows (>= 2) above and below are read."""
        if halo < 2:
            raise ValueError("g_s's receptive field needs a halo of 2 latent rows")
        height, width = y.shape[2], y.shape[3]
        lo, hi = max(0, top - halo), min(height, bottom + halo)
        q_rows = q_features[0, :, lo:hi].permute(1, 2, 0)
        scale, shift = self._affine(0, q_rows)
        x = torch.addcmul(shift, y[0, :, lo:hi].permute(1, 2, 0), scale)[None]
        have = (lo, hi)
        buffers = self.buffers()
        last = len(self.ups) - 1
        for level, conv in enumerate(self.ups):
            total = height << level
            if level < last:  # what the next level's 3x3 convolution reads, one row each side
                want = (max((top << level) - 1, 0), min((bottom << level) + 1, total))
            else:
                want = (top << level, bottom << level)
            u = self._conv(x, conv, have, want, total)
            if level == last:
                return u
            _, rows, cols, c4 = u.shape
            c = c4 // 4
            beta, gamma_t = self.gdns[level]
            scale, shift = self._affine(level + 1, q_rows)
            f = 1 << level  # columns (and rows) of this level per latent
            at = torch.div(torch.arange(want[0], want[1]), f, rounding_mode="floor") - lo
            scale, shift = scale[at][:, :, None, None, None], shift[at][:, :, None, None, None]
            shuffled = buffers.get(2, rows * cols * 4 * c)
            # (rows, w, f, i, j, c) -> (rows, i, w, f, j, c): the pixel shuffle, as a view of the output
            target = shuffled.view(rows, 2, width, f, 2, c).permute(0, 2, 3, 1, 4, 5)
            per_row = cols * 4  # pixels of one row of the un-shuffled output
            step = max(1, _TILE // (per_row * c))
            for r0 in range(0, rows, step):  # tiles of rows that stay in the core's cache (1.6x faster)
                r1 = min(rows, r0 + step)
                n = (r1 - r0) * per_row
                flat = u[0, r0:r1].reshape(n, c)
                norm = torch.addmm(beta, torch.abs(flat, out=buffers.get(0, n * c).view(n, c)), gamma_t,
                                   out=buffers.get(1, n * c).view(n, c))
                norm.mul_(flat)  # inverse GDN: x * (beta + gamma |x|)
                # quality modulation, written through the pixel shuffle
                torch.addcmul(shift[r0:r1], norm.view(r1 - r0, width, f, 2, 2, c), scale[r0:r1], out=target[r0:r1])
            del u
            x = shuffled.view(1, 2 * rows, 2 * cols, c)
            have = (2 * want[0], 2 * want[1])
        raise AssertionError("unreachable")


def pixels_hwc(out: torch.Tensor) -> torch.Tensor:
    """The last layer's (1, Y, X, 4C) sub-pixel-major output as an image view (2Y, 2X, C)."""
    _, rows, cols, c4 = out.shape
    return out.reshape(rows, cols, 2, 2, c4 // 4).permute(0, 2, 1, 3, 4).reshape(2 * rows, 2 * cols, c4 // 4)


def to_uint8(out: torch.Tensor, target: np.ndarray) -> None:
    """Write ``round(clamp(x, 0, 1) * 255)`` of the last layer's output (in place) into the uint8 image rows
    ``target`` (rows, width, 3), cropping the padding columns: the pixels ``api.decoded_pixels`` gives."""
    image = pixels_hwc(out.clamp_(0, 1).mul_(255).round_())
    rows, width = target.shape[:2]
    torch.from_numpy(target).copy_(image[:rows, :width])

"""benchmarks/latent_refinement_probe.py: the cost it reports is the real file's, refinement keeps y's shape."""

from __future__ import annotations

import pytest
import torch

import sdpic
from benchmarks import latent_refinement_probe as probe
from sdpic.api import padded_tensor
from sdpic.errors import ParameterError
from sdpic.zoo import load_model
from tests.conftest import smooth_image


def test_real_cost_counts_the_coded_bytes_and_refinement_moves_y() -> None:
    net = load_model("sdpic-mse").eval().requires_grad_(False)
    x = padded_tensor(smooth_image(64, 128))
    q_levels = torch.full((1, 1, 4, 8), 32, dtype=torch.int64)
    lam = float(net.lambda_map(torch.tensor(0.5)))
    y0 = net.analyse(x, q_levels)
    cost = probe.real_cost("sdpic-mse", net, y0, 32, x, lam)
    # The amortised latents at level 32 (quality 50) are what `sdpic.compress` codes: the same file.
    assert cost["bpp"] == 8 * len(sdpic.compress(smooth_image(64, 128), quality=50, model="sdpic-mse")) / (64 * 128)
    assert cost["cost"] == pytest.approx(cost["bpp"] + lam * 255 ** 2 * 10 ** (-cost["psnr"] / 10))
    torch.manual_seed(0)
    y = probe.refine(net, y0, q_levels, x, steps=2, lr=1e-2, proxy="noise")
    assert y.shape == y0.shape and not y.requires_grad and not torch.equal(y, y0)
    assert torch.equal(probe.refine(net, y0, q_levels, x, steps=0, lr=1e-2, proxy="noise"), y0)


def test_out_of_range_levels_are_a_typed_error() -> None:
    with pytest.raises(ParameterError, match="levels"):
        probe.main(["--levels", "65"])

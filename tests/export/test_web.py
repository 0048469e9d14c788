"""The web bundle: its arrays are the model's tables and exact weights, its ONNX synthesis graph gives the
Python decoder's pixels (to a level) on whole grids and on strips with the manifest's halo, and the export
is deterministic (the ONNX files are rebuilt from the weights, never committed)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch

import sdpic
from sdpic import api
from sdpic import format as fmt
from sdpic.export import web
from sdpic.zoo import entry_by_name, load_model, weights_hash
from tests.conftest import smooth_image

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def decoded() -> tuple:
    """A real stream's latents and the Python decoder's pixels: (model, ŷ, levels, pixels)."""
    data = sdpic.compress(smooth_image(300, 70, seed=3), quality=40, threads=1)
    container = fmt.unpack(data)
    net, y_hat, q_levels = api.decode_latents(container, threads=1)
    with torch.inference_mode():
        pixels = net.synthesise_pixels(y_hat, q_levels, container.height, container.width)
    return net, y_hat, q_levels, pixels


@pytest.fixture(scope="module")
def session(decoded: tuple):
    return ort.InferenceSession(web.synthesis_onnx(decoded[0]))


def _run(session, y_hat: torch.Tensor, levels: torch.Tensor) -> np.ndarray:
    out = session.run(None, {"y_hat": y_hat.numpy(), "levels": levels.numpy()})[0]
    return out[0].transpose(1, 2, 0)


def test_onnx_synthesis_gives_the_decoders_pixels(decoded: tuple, session) -> None:
    _, y_hat, q_levels, pixels = decoded
    out = _run(session, y_hat, q_levels)[: pixels.shape[0], : pixels.shape[1]]
    diff = np.abs(out.astype(int) - pixels.astype(int))
    assert out.dtype == np.uint8 and diff.max() <= 1
    assert (diff.max(axis=2) > 0).mean() < 0.005


@pytest.mark.parametrize("halo", [web.SYNTHESIS_HALO, 1])
def test_strips_with_the_halo_equal_the_whole_grid(decoded: tuple, session, halo: int) -> None:
    """Strips of 3 latent rows, each with ``halo`` rows either side, against the whole grid: the manifest's
    halo keeps every kept row (floats aside); a smaller one visibly does not."""
    _, y_hat, q_levels, _ = decoded
    whole = _run(session, y_hat, q_levels).astype(int)
    h, s = y_hat.shape[2], web.LATENT_STRIDE
    worst = 0
    for top in range(0, h, 3):
        bottom = min(h, top + 3)
        lo, hi = max(0, top - halo), min(h, bottom + halo)
        strip = _run(session, y_hat[:, :, lo:hi], q_levels[:, :, lo:hi]).astype(int)
        kept = strip[(top - lo) * s:(bottom - lo) * s]
        worst = max(worst, int(np.abs(kept - whole[top * s:bottom * s]).max()))
    assert worst <= 1 if halo == web.SYNTHESIS_HALO else worst > 1


def test_fp16_weights_halve_the_file_and_stay_within_a_level(decoded: tuple) -> None:
    net, y_hat, q_levels, pixels = decoded
    fp16 = web.synthesis_onnx(net, fp16=True)
    assert len(fp16) < 0.55 * len(web.synthesis_onnx(net))
    out = _run(ort.InferenceSession(fp16), y_hat, q_levels)[: pixels.shape[0], : pixels.shape[1]]
    diff = np.abs(out.astype(int) - pixels.astype(int))
    assert diff.max() <= 1 and (diff.max(axis=2) > 0).mean() < 0.1


def test_the_graph_divides_by_the_decoders_gain_table() -> None:
    net = load_model("sdpic")
    levels = torch.arange(65)[None, None, :, None]
    graph = web.SynthesisGraph(net)
    assert torch.equal(graph.gain.t()[None, :, :, None], net._gain_from_levels(levels))


def _arrays(bundle: web.Bundle) -> dict[str, np.ndarray]:
    manifest = bundle.manifest
    blob = bundle.files[manifest["blob"]["file"]]
    out = {}
    for name, spec in manifest["blob"]["arrays"].items():
        dtype = np.dtype({"uint16": "<u2", "int16": "<i2", "int32": "<i4", "float64": "<f8"}[spec["dtype"]])
        count = int(np.prod(spec["shape"]))
        out[name] = np.frombuffer(blob, dtype, count, spec["offset"]).reshape(spec["shape"])
    return out


def test_bundle_holds_the_models_tables_and_exact_weights() -> None:
    net = load_model("sdpic")
    entry = entry_by_name("sdpic")
    bundle = web.build_bundle("sdpic", net, entry.model_id, weights_hash(entry.path), fp16=False)
    manifest, arrays = bundle.manifest, _arrays(bundle)
    assert (manifest["model_id"], manifest["weights_hash"]) == (2, weights_hash(entry.path).hex())
    assert manifest["blob"]["sha256"] == hashlib.sha256(bundle.files["sdpic.bin"]).hexdigest()
    assert np.array_equal(arrays["z_freqs"], net.z_prior.table_freqs.numpy())
    assert np.array_equal(arrays["y_freqs"], net.y_table_freqs.numpy())
    assert np.array_equal(arrays["y_scale_thresholds"], net.y_scale_thresholds.numpy())
    assert np.array_equal(arrays["quality_map"][0], sdpic.quality_map._TABLE)
    hs, ctx, ep = net._exact_nets
    for key, exact_net in (("hyper_synthesis", hs), ("context", ctx), ("parameters", ep)):
        convs = [p for kind, p in exact_net.layers if kind == "conv"]
        layers = [layer for layer in manifest["networks"][key] if layer["op"] == "conv"]
        assert len(convs) == len(layers)
        for (w, b, _, _), layer in zip(convs, layers, strict=True):
            assert np.array_equal(arrays[layer["weight"]], w.numpy())
            assert np.array_equal(arrays[layer["bias"]], b.numpy())
        assert [layer["op"] for layer in manifest["networks"][key]] == [kind for kind, _ in exact_net.layers]
    assert manifest["min_bits"]["z_sum"] == float(net._z_min_bits.sum())
    assert manifest["min_bits"]["y"] == net._y_min_bits.tolist()
    assert json.loads(json.dumps(manifest)) == manifest


def test_export_is_deterministic() -> None:
    net = load_model("sdpic")
    assert web.synthesis_onnx(net) == web.synthesis_onnx(net)


# ------------------------------------------------------------------------------------------ realism decoder
@pytest.fixture(scope="module")
def realism_decoder(decoded: tuple):
    from sdpic.export.reference import fixture_realism_decoder

    return fixture_realism_decoder(decoded[0])


@pytest.fixture(scope="module")
def realism_session(decoded: tuple, realism_decoder):
    return ort.InferenceSession(web.synthesis_onnx(decoded[0], realism_decoder))


def _run_realism(session, y_hat: torch.Tensor, levels: torch.Tensor, r: torch.Tensor) -> np.ndarray:
    out = session.run(None, {"y_hat": y_hat.numpy(), "levels": levels.numpy(), "realism": r.numpy()})[0]
    return out[0].transpose(1, 2, 0)


@pytest.mark.parametrize("value", [0.5, 1.0])
def test_realism_graph_gives_the_decoders_pixels(decoded: tuple, realism_decoder, realism_session,
                                                 value: float) -> None:
    """The realism decoder's ONNX graph on the realism map against the Python decoder with the same realism
    decoder (``synthesise_pixels`` with a realism plan); and it is not the base g_s."""
    from sdpic.codec.realism import realism_map

    net, y_hat, q_levels, base = decoded
    level = int(q_levels.max())
    r = realism_map(q_levels, level, value)
    with torch.inference_mode():
        pixels = net.synthesise_pixels(y_hat, q_levels, base.shape[0], base.shape[1], (realism_decoder, r))
    out = _run_realism(realism_session, y_hat, q_levels, r)[: pixels.shape[0], : pixels.shape[1]]
    diff = np.abs(out.astype(int) - pixels.astype(int))
    assert diff.max() <= 1 and (diff.max(axis=2) > 0).mean() < 0.005
    assert np.abs(out.astype(int) - base.astype(int)).max() > 8


def test_realism_strips_with_the_halo_equal_the_whole_grid(decoded: tuple, realism_session) -> None:
    """The realism encoder adds a 3x3 convolution beside the quality encoder's: the manifest's halo still
    keeps every kept row of a strip (floats aside)."""
    _, y_hat, q_levels, _ = decoded
    r = torch.rand(q_levels.shape, generator=torch.Generator().manual_seed(4))
    whole = _run_realism(realism_session, y_hat, q_levels, r).astype(int)
    h, s, halo = y_hat.shape[2], web.LATENT_STRIDE, web.SYNTHESIS_HALO
    worst = 0
    for top in range(0, h, 3):
        bottom = min(h, top + 3)
        lo, hi = max(0, top - halo), min(h, bottom + halo)
        strip = _run_realism(realism_session, y_hat[:, :, lo:hi], q_levels[:, :, lo:hi], r[:, :, lo:hi]).astype(int)
        worst = max(worst, int(np.abs(strip[(top - lo) * s:(bottom - lo) * s] - whole[top * s:bottom * s]).max()))
    assert worst <= 1


def test_bundle_with_a_realism_decoder(realism_decoder) -> None:
    net = load_model("sdpic")
    entry = entry_by_name("sdpic")
    args = ("sdpic", net, entry.model_id, weights_hash(entry.path))
    bundle = web.build_bundle(*args, fp16=False, realism=realism_decoder, default_realism=0.5)
    manifest = bundle.manifest
    assert manifest["realism"] == {"synthesis": "realism", "default": 0.5, "lift_span": 8.0}
    assert manifest["synthesis"]["realism"]["inputs"] == ["y_hat", "levels", "realism"]
    assert manifest["synthesis"]["default"]["inputs"] == ["y_hat", "levels"]
    plain = web.build_bundle(*args, fp16=False).manifest
    assert "realism" not in plain and set(plain["synthesis"]) == {"default"}
    assert manifest["synthesis"]["default"] == plain["synthesis"]["default"]  # the base graph is unchanged
    assert bundle.files["sdpic.synthesis-realism.onnx"] != bundle.files["sdpic.synthesis.onnx"]
    with pytest.raises(sdpic.ParameterError, match="realism"):
        web.build_bundle(*args, fp16=False, realism=realism_decoder, default_realism=1.5)
    with pytest.raises(sdpic.ParameterError, match="realism"):
        web.build_bundle(*args, synthesis={"default": net.g_s, "realism": net.g_s}, fp16=False)


def test_zoo_bundle_refuses_a_realism_decoder_for_other_weights(tmp_path) -> None:
    from sdpic import zoo
    from sdpic.codec.realism import RealismDecoder

    path = tmp_path / "for-mse.safetensors"
    zoo.save_realism_file(RealismDecoder.from_base(load_model("sdpic-mse")), path, entry_by_name("sdpic-mse").path)
    with pytest.raises(sdpic.ModelMismatchError, match="base weights"):
        web.zoo_bundle("sdpic", fp16=False, realism_weights=path)

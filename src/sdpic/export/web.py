"""The web decoder's model bundle, built from a model's weights (``sdpic export onnx``).

For a model ``NAME`` the bundle is::

    NAME.json                    manifest: ids, weights hash, config, constants, where each array lies in
                                 NAME.bin, the exact networks' layers, the synthesis decoders
    NAME.bin                     little-endian arrays: the integer frequency tables (z, y, quality map),
                                 z offsets, scale thresholds, the exact networks' integer weights and biases
    NAME.synthesis.onnx          the synthesis decoder as ONNX (fp32 weights)
    NAME.synthesis.fp16.onnx     the same graph with fp16 convolution weights (cast to fp32 on loading)
    NAME.synthesis-realism.onnx  the realism decoder (where the model has one), its graph also taking the
                                 realism map; .fp16.onnx likewise
    models.json                  the index of the bundles in a folder (model id, name, weights hash)

The entropy side is data, not code: the JavaScript decoder rebuilds constriction's quantised tables from
the same integer frequencies and evaluates the exact networks with the same integer weights, so the
decoded symbols are the Python decoder's bit for bit. The synthesis side is an ONNX graph of
:class:`SynthesisGraph`: quantised latents ŷ and integer quality levels of a strip of latent rows in,
uint8 pixels out, exported by the torch exporter from whatever module the model's ``g_s`` is, so another
synthesis decoder trained for the same latents (the ``--synthesis NAME=WEIGHTS`` option) exports the same
way. The realism decoder (:mod:`sdpic.codec.realism`) is :class:`RealismSynthesisGraph`: the same inputs
and the realism map, which the web decoder computes from the levels as Python does (the manifest's
``realism`` entry names the graph, the default realism and ``LIFT_SPAN``). Its float arithmetic differs from
the Python decoder's in summation order only: pixels agree to one level (the web package's tests and
``benchmarks/web_decoder.py`` count the differences).
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .. import quality_map
from ..codec import exact
from ..codec.coder import min_symbol_bits
from ..codec.entropy import TABLE_PRECISION, Z_HALF_WIDTH
from ..codec.model import ESCAPE_LIMIT, LATENT_STRIDE, PAD_MULTIPLE, QUALITY_LEVELS, SdpicModel
from ..codec.realism import LIFT_SPAN, RealismDecoder, check_realism
from ..errors import ParameterError
from ..image_io import MAX_PIXELS, MAX_SIDE

BUNDLE_FORMAT = "sdpic-web-model"
BUNDLE_VERSION = 1
INDEX_FILE = "models.json"
ONNX_OPSET = 17
#: Latent rows a strip reads beyond its own, each side. g_s's convolutions see 1 + 1/2 + 1/4 + 1/8 latent
#: rows beyond a row, and the graph computes the quality features of the strip itself, whose 3x3 layer
#: misreads the strip's outermost row: the error reaches 46 of the 16 * halo pixel rows past the strip's
#: edge, so 3 rows (48 pixels) keep every kept row exact (tests/export/test_web.py checks strips).
SYNTHESIS_HALO = 3
#: The synthesis entry of the realism decoder in a manifest.
REALISM_LABEL = "realism"
#: Smallest normal float32. Subnormal weights (a few squared GDN weights are ~1e-42) add nothing to a sum
#: of normal numbers but make float arithmetic microcoded, and WebAssembly cannot flush them: zeroed.
_TINY = float(np.finfo(np.float32).tiny)


class SynthesisGraph(nn.Module):
    """What the web decoder runs on a strip: ŷ (1, M, h, w) float32 and quality levels (1, 1, h, w) int64
    -> pixels (1, 3, 16h, 16w) uint8, ``round(clamp(g_s(ŷ / gain(q), qe(q)), 0, 1) * 255)``: the arithmetic of
    ``SdpicModel._synthesise_strips`` and ``synthesis.to_uint8`` (the gain table as the decoder builds it,
    so ŷ / gain is bit-identical; the quality features from the strip's own levels)."""

    def __init__(self, model: SdpicModel, g_s: nn.Module | None = None) -> None:
        super().__init__()
        self.quality_encoder = model.quality_encoder
        self.g_s = model.g_s if g_s is None else g_s
        levels = torch.arange(QUALITY_LEVELS + 1, dtype=torch.int64)[None, None, :, None]
        with torch.no_grad():
            gain = model._gain_from_levels(levels)  # (1, M, 65, 1): the decoder's own table
        self.register_buffer("gain", gain[0, :, :, 0].t().contiguous())  # (65, M)

    def forward(self, y_hat: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
        gain = self.gain[levels[:, 0]].permute(0, 3, 1, 2)
        q = levels.float() / QUALITY_LEVELS
        x = self.g_s(y_hat / gain, self.quality_encoder(q))
        return torch.round(x.clamp(0.0, 1.0) * 255.0).to(torch.uint8)


class RealismSynthesisGraph(SynthesisGraph):
    """The realism decoder on a strip: ŷ (1, M, h, w) float32, quality levels (1, 1, h, w) int64 and the
    realism map (1, 1, h, w) float32 (:func:`sdpic.codec.realism.realism_map`) -> pixels (1, 3, 16h, 16w)
    uint8: ``round(clamp(g_s'(ŷ / gain(q), qe'(q) + re(q, r)), 0, 1) * 255)``, the arithmetic of
    ``SdpicModel._synthesise_strips`` with a realism plan (the base model's gain table)."""

    def __init__(self, model: SdpicModel, decoder: RealismDecoder) -> None:
        super().__init__(model, decoder.g_s)
        self.decoder = decoder

    def forward(self, y_hat: torch.Tensor, levels: torch.Tensor, realism: torch.Tensor) -> torch.Tensor:
        gain = self.gain[levels[:, 0]].permute(0, 3, 1, 2)
        q = levels.float() / QUALITY_LEVELS
        x = self.decoder.g_s(y_hat / gain, self.decoder.conditioning(q, realism))
        return torch.round(x.clamp(0.0, 1.0) * 255.0).to(torch.uint8)


def synthesis_onnx(model: SdpicModel, g_s: nn.Module | None = None, fp16: bool = False) -> bytes:
    """The :class:`SynthesisGraph` of ``model`` (or of ``g_s``, another synthesis transform for its latents;
    or a :class:`RealismDecoder`, as its :class:`RealismSynthesisGraph`) as ONNX bytes, with dynamic latent
    height and width. Convolution weights below the smallest normal float32 are zeroed; with ``fp16`` they
    are stored as float16 and cast to float32 when loaded."""
    import onnx

    m = model.config.latent_channels
    h, w = 4, 6
    example: tuple[torch.Tensor, ...] = (torch.zeros(1, m, h, w),
                                         torch.full((1, 1, h, w), QUALITY_LEVELS // 2, dtype=torch.int64))
    names, axes = ["y_hat", "levels"], {"y_hat": {2: "h", 3: "w"}, "levels": {2: "h", 3: "w"}}
    if isinstance(g_s, RealismDecoder):
        graph: nn.Module = RealismSynthesisGraph(model, g_s).eval()
        example += (torch.full((1, 1, h, w), 0.5),)
        names.append("realism")
        axes["realism"] = {2: "h", 3: "w"}
    else:
        graph = SynthesisGraph(model, g_s).eval()
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer warnings
        torch.onnx.export(graph, example, buf, dynamo=False, opset_version=ONNX_OPSET,
                          input_names=names, output_names=["pixels"],
                          dynamic_axes={**axes, "pixels": {2: "height", 3: "width"}})
    proto = onnx.load_from_string(buf.getvalue())
    _prepare_conv_weights(proto, fp16)
    proto.producer_name, proto.producer_version = "sdpic export onnx", ""
    return proto.SerializeToString()


def _prepare_conv_weights(proto, fp16: bool) -> None:
    """Zero subnormal convolution weights; with ``fp16`` store them as float16 behind a Cast node."""
    from onnx import TensorProto, helper, numpy_helper

    graph = proto.graph
    conv_weights = {node.input[1] for node in graph.node if node.op_type == "Conv"}
    inits, casts = [], []
    for init in graph.initializer:
        if init.name not in conv_weights or init.data_type != TensorProto.FLOAT:
            inits.append(init)
            continue
        w = numpy_helper.to_array(init).copy()
        w[np.abs(w) < _TINY] = 0.0
        if fp16:
            inits.append(numpy_helper.from_array(w.astype(np.float16), f"{init.name}.fp16"))
            casts.append(helper.make_node("Cast", [f"{init.name}.fp16"], [init.name], to=TensorProto.FLOAT,
                                          name=f"{init.name}.cast"))
        else:
            inits.append(numpy_helper.from_array(w, init.name))
    del graph.initializer[:]
    graph.initializer.extend(inits)
    if casts:
        nodes = list(graph.node)
        del graph.node[:]
        graph.node.extend(casts + nodes)


_BLOB_DTYPES = {"uint16": "<u2", "int16": "<i2", "int32": "<i4", "float64": "<f8"}


class _Blob:
    """Little-endian arrays laid end to end, each at a multiple of 8 bytes (so typed-array views fit)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0
        self.index: dict[str, dict] = {}

    def add(self, name: str, array: np.ndarray, dtype: str) -> str:
        values = np.asarray(array)
        data = np.ascontiguousarray(values, dtype=_BLOB_DTYPES[dtype])
        if not np.array_equal(data, values):
            raise ValueError(f"{name} does not fit {dtype}")
        pad = (-self.size) % 8
        self.parts.append(b"\0" * pad)
        self.size += pad
        self.index[name] = {"dtype": dtype, "shape": list(data.shape), "offset": self.size}
        self.parts.append(data.tobytes())
        self.size += data.nbytes
        return name

    def bytes(self) -> bytes:
        return b"".join(self.parts)


def _integer_dtype(values: np.ndarray) -> str:
    return "int16" if np.abs(values).max(initial=0) <= 0x7FFF else "int32"


def _exact_layers(net: exact.ExactSequential, prefix: str, blob: _Blob) -> list[dict]:
    """An exact network's layers as the manifest describes them, its weights and biases into the blob."""
    layers = []
    for k, (kind, params) in enumerate(net.layers):
        if kind == "conv":
            w, b, stride, padding = params
            w = w.numpy()
            bias = np.zeros(w.shape[0]) if b is None else b.numpy()
            layers.append({
                "op": "conv", "in": int(w.shape[1]), "out": int(w.shape[0]), "kernel": list(w.shape[2:]),
                "stride": list(stride), "padding": list(padding),
                "weight": blob.add(f"{prefix}.{k}.weight", w, _integer_dtype(w)),
                "bias": blob.add(f"{prefix}.{k}.bias", bias, "float64"),
            })
        elif kind == "shuffle":
            layers.append({"op": "shuffle", "factor": int(params)})
        elif kind == "leaky":
            layers.append({"op": "leaky", "slope": exact.LEAKY_SLOPE})
        else:
            layers.append({"op": "relu"})
    return layers


@dataclass(frozen=True)
class Bundle:
    """The files of one model's bundle: name -> bytes (the manifest last, it records the others' hashes)."""

    name: str
    files: dict[str, bytes]

    @property
    def manifest(self) -> dict:
        return json.loads(self.files[f"{self.name}.json"])


def build_bundle(name: str, model: SdpicModel, model_id: int, weights_hash: bytes,
                 synthesis: dict[str, nn.Module] | None = None, fp16: bool = True,
                 realism: RealismDecoder | None = None, default_realism: float = 0.0) -> Bundle:
    """The bundle of ``model`` (its zoo ``name``, ``model_id`` and ``weights_hash``, as the streams name it).

    ``synthesis``: synthesis decoders by name (default: ``{"default": model.g_s}``), each exported as ONNX
    (and with fp16 weights when ``fp16``). ``realism``: the model's realism decoder, exported as synthesis
    decoder ``realism`` and named in the manifest's ``realism`` entry with ``default_realism``, the realism a
    decode uses unless asked (``sdpic.zoo.ModelEntry.default_realism``)."""
    decoders_in: dict[str, nn.Module] = dict(synthesis or {"default": model.g_s})
    if REALISM_LABEL in decoders_in:
        raise ParameterError(f"synthesis decoder name {REALISM_LABEL!r} is the realism decoder's")
    if realism is not None:
        decoders_in[REALISM_LABEL] = realism
    default_realism = check_realism(default_realism) if realism is not None else 0.0
    model.prepare_for_coding()
    hs, ctx, ep = model._exact_nets
    c = model.config
    blob = _Blob()
    z_freqs = model.z_prior.table_freqs.numpy().astype(np.int64)
    y_freqs = model.y_table_freqs.numpy().astype(np.int64)
    qm_table = quality_map._TABLE.astype(np.int64)
    tables = {
        "z_freqs": blob.add("z_freqs", z_freqs, "uint16"),
        "z_offsets": blob.add("z_offsets", model.z_prior.table_offsets.numpy(), "int32"),
        "y_freqs": blob.add("y_freqs", y_freqs, "uint16"),
        "y_half_widths": blob.add("y_half_widths", model.y_table_half_widths.numpy(), "int32"),
        "y_scale_thresholds": blob.add("y_scale_thresholds", model.y_scale_thresholds.numpy(), "int32"),
        "quality_map": blob.add("quality_map", qm_table[None, :], "uint16"),
    }
    networks = {"hyper_synthesis": _exact_layers(hs, "h_s", blob), "context": _exact_layers(ctx, "context", blob),
                "parameters": _exact_layers(ep, "params", blob)}
    blob_bytes = blob.bytes()
    files: dict[str, bytes] = {f"{name}.bin": blob_bytes}
    decoders = {}
    for label, g_s in decoders_in.items():
        stem = f"{name}.synthesis" if label == "default" else f"{name}.synthesis-{label}"
        inputs = ["y_hat", "levels", "realism"] if isinstance(g_s, RealismDecoder) else ["y_hat", "levels"]
        entry = {"halo": SYNTHESIS_HALO, "scale": LATENT_STRIDE, "inputs": inputs, "output": "pixels"}
        variants = {"fp32": False, "fp16": True} if fp16 else {"fp32": False}
        for variant, half in variants.items():
            onnx_bytes = synthesis_onnx(model, g_s, fp16=half)
            file = f"{stem}.onnx" if variant == "fp32" else f"{stem}.{variant}.onnx"
            files[file] = onnx_bytes
            entry[variant] = {"file": file, "bytes": len(onnx_bytes), "sha256": hashlib.sha256(onnx_bytes).hexdigest()}
        decoders[label] = entry
    manifest = {
        "format": BUNDLE_FORMAT, "version": BUNDLE_VERSION,
        "name": name, "model_id": model_id, "weights_hash": weights_hash.hex(),
        "config": c.to_dict(),
        "constants": {
            "pad_multiple": PAD_MULTIPLE, "latent_stride": LATENT_STRIDE, "quality_levels": QUALITY_LEVELS,
            "table_precision": TABLE_PRECISION, "z_half_width": Z_HALF_WIDTH, "escape_limit": ESCAPE_LIMIT,
            "act_bits": exact.ACT_BITS, "weight_bits": exact.WEIGHT_BITS, "act_limit": exact.ACT_LIMIT,
            "max_side": MAX_SIDE, "max_pixels": MAX_PIXELS,
        },
        "blob": {"file": f"{name}.bin", "bytes": len(blob_bytes), "sha256": hashlib.sha256(blob_bytes).hexdigest(),
                 "arrays": blob.index},
        "tables": tables,
        # Fewest bits a symbol of each table costs, as the Python decoder computes them (float64), for the
        # stream-length checks made before decoding.
        "min_bits": {"z_sum": float(min_symbol_bits(z_freqs).sum()), "y": min_symbol_bits(y_freqs).tolist(),
                     "quality_map": float(min_symbol_bits(qm_table[None, :])[0])},
        "networks": networks,
        # Where the parameter network's input blocks start: hyper features, context features, quality.
        "parameter_inputs": {"hyper": 0, "context": c.hyper_features,
                             "quality": c.hyper_features + c.context_channels},
        "synthesis": decoders,
    }
    if realism is not None:
        # The realism map r = R * clamp(1 - (level - base) / lift_span, 0, 1) is computed by the decoder.
        manifest["realism"] = {"synthesis": REALISM_LABEL, "default": default_realism, "lift_span": LIFT_SPAN}
    files[f"{name}.json"] = (json.dumps(manifest, indent=1) + "\n").encode()
    return Bundle(name, files)


def zoo_bundle(name: str, synthesis_weights: dict[str, Path] | None = None, fp16: bool = True,
               realism_weights: Path | None = None, default_realism: float | None = None) -> Bundle:
    """The bundle of a zoo model; ``synthesis_weights`` adds synthesis decoders by name, each the ``g_s`` of
    a weights file (:func:`sdpic.zoo.save_model`'s format) made for the same latents. The realism decoder:
    ``realism_weights`` (:func:`sdpic.zoo.save_realism_file`'s format, for this model's weights), else the
    model's shipped one where this installation has it; ``default_realism`` (else the model's) is the
    realism the web decoder uses unless asked."""
    from ..zoo import entry_by_name, load_model_file, load_realism_file, weights_hash

    entry = entry_by_name(name)
    model = load_model_file(entry.path)
    synthesis: dict[str, nn.Module] = {"default": model.g_s}
    for label, path in (synthesis_weights or {}).items():
        if label in ("default", REALISM_LABEL) or not label.replace("-", "").replace("_", "").isalnum():
            raise ParameterError(f"synthesis decoder name {label!r}: use letters, digits, - and _ (not 'default' "
                                 f"or {REALISM_LABEL!r})")
        other = load_model_file(path, prepare=False)
        if other.config.latent_channels != model.config.latent_channels:
            raise ParameterError(f"{path}: its g_s takes {other.config.latent_channels} latent channels, "
                                 f"{name} codes {model.config.latent_channels}")
        synthesis[label] = other.g_s
    realism_path = realism_weights if realism_weights is not None else entry.realism_path
    realism = None if realism_path is None else load_realism_file(realism_path, entry.path)
    if realism is not None and realism.g_s.ups[0].conv.in_channels != model.config.latent_channels:
        raise ParameterError(f"{realism_path}: its g_s does not take {name}'s {model.config.latent_channels} latents")
    default = entry.default_realism if default_realism is None else default_realism
    return build_bundle(name, model, entry.model_id, weights_hash(entry.path), synthesis, fp16=fp16,
                        realism=realism, default_realism=default)


def index_json(manifests: list[dict]) -> bytes:
    """The folder index: which bundle decodes which model id and weights hash."""
    models = [{"model_id": m["model_id"], "name": m["name"], "weights_hash": m["weights_hash"],
               "manifest": f"{m['name']}.json"} for m in sorted(manifests, key=lambda m: m["model_id"])]
    return (json.dumps({"format": "sdpic-web-models", "version": BUNDLE_VERSION, "models": models}, indent=1)
            + "\n").encode()


def read_manifests(out_dir: Path) -> list[dict]:
    """The manifests already in a bundle folder (those ``models.json`` lists), to keep them in its index."""
    index = out_dir / INDEX_FILE
    if not index.is_file():
        return []
    manifests = []
    for item in json.loads(index.read_text()).get("models", []):
        path = out_dir / item["manifest"]
        if path.is_file():
            manifests.append(json.loads(path.read_text()))
    return manifests

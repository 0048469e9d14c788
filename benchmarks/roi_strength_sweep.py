"""ROI-strength trade-off: BD-rates of one sdpic model at several ``--roi-strength`` values.

The measurements are ordinary ``sdpic bench rd`` runs, one JSON per strength (the strength is in the
sdpic codec's ``options`` record); this script only gathers their BD-rates against the reference codec into
one table and one plot::

    for s in 0 0.25 0.5 0.75; do
      cp avif.json sweep_$s.json
      sdpic bench rd --images DIR --codecs sdpic --sdpic-roi-strength $s --update sweep_$s.json
    done
    .venv/bin/python benchmarks/roi_strength_sweep.py sweep_*.json --codec sdpic \\
        --out results/saliency_allocation/roi_strength_coco16.json \\
        --plot results/saliency_allocation/roi_strength_coco16.png

A higher strength moves bits from the background into the salient region (``sdpic.quality_map``): the
salient region's PSNR at equal total size rises while whole-image measures fall.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sdpic.errors import ParameterError
from sdpic.outputs import atomic_write_bytes

#: The salient region's PSNR first (what the strength trades for), then the held-out distances.
METRICS = ("psnr_salient", "lpips_vgg", "dists", "lpips_alex", "psnr", "ms_ssim")


def gather(paths: list[Path], codec: str) -> dict:
    """One row per strength: the codec's BD-rates (percent) against each JSON's reference codec."""
    rows: dict[float, dict] = {}
    datasets, references = set(), set()
    for path in paths:
        doc = json.loads(path.read_text())
        entry = doc["codecs"].get(codec)
        if entry is None or not entry.get("points"):
            raise ParameterError(f"{path}: no measured rows for codec {codec!r}")
        strength = entry.get("options", {}).get("roi_strength")
        if strength is None:
            raise ParameterError(f"{path}: codec {codec!r} has no options record (written by an older bench; rerun)")
        if strength in rows:
            raise ParameterError(f"{path}: strength {strength:g} given twice")
        datasets.add((doc["dataset"], doc["images"]))
        references.add(doc["reference"])
        rows[strength] = {"file": str(path), "version": entry["version"],
                          "bpp_range": [min(p["bpp"] for p in entry["points"]),
                                        max(p["bpp"] for p in entry["points"])],
                          "bd_rate": {m: doc["bd_rate"].get(m, {}).get(codec) for m in METRICS}}
    if len(datasets) != 1 or len(references) != 1:
        raise ParameterError(f"the JSONs mix datasets {sorted(datasets)} or references {sorted(references)}")
    (dataset, images), = datasets
    return {"dataset": dataset, "images": images, "codec": codec, "reference": references.pop(),
            "strengths": {f"{s:g}": rows[s] for s in sorted(rows)}}


def markdown(doc: dict) -> str:
    head = "| ROI strength | " + " | ".join(f"BD-rate {m}" for m in METRICS) + " | bpp range |"
    lines = [head, "|" + "---:|" * (len(METRICS) + 2)]
    for strength, row in doc["strengths"].items():
        cells = [f"{v:+.1f}%" if v is not None else "n/a" for v in row["bd_rate"].values()]
        low, high = row["bpp_range"]
        lines.append(f"| {strength} | " + " | ".join(cells) + f" | {low:.3f}–{high:.3f} |")
    return "\n".join(lines)


def plot(doc: dict, path: Path) -> None:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    strengths = [float(s) for s in doc["strengths"]]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for metric in METRICS:
        values = [row["bd_rate"][metric] for row in doc["strengths"].values()]
        ax.plot(strengths, values, marker="o", label=metric)
    ax.axhline(0.0, color="grey", lw=0.8)
    ax.set_xlabel("ROI strength (--roi-strength)")
    ax.set_ylabel(f"BD-rate vs {doc['reference']} (%)")
    ax.set_title(f"{doc['codec']} on {doc['dataset']} ({doc['images']} images)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("jsons", nargs="+", type=Path, help="bench rd JSONs, one ROI strength each")
    parser.add_argument("--codec", default="sdpic", help="the sdpic codec whose strength varies")
    parser.add_argument("--out", type=Path, default=None, help="write the gathered table here (JSON)")
    parser.add_argument("--plot", type=Path, default=None, help="draw BD-rates vs strength here (PNG)")
    args = parser.parse_args()
    try:
        doc = gather(args.jsons, args.codec)
    except (ParameterError, OSError, KeyError, json.JSONDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.out:
        atomic_write_bytes(args.out, (json.dumps(doc, indent=1) + "\n").encode())
    if args.plot:
        plot(doc, args.plot)
    print(markdown(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())

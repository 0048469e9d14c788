"""The README's comparison, generated from the committed RD results (no figure in it is typed by hand).

    .venv/bin/python benchmarks/readme_tables.py                  # print the block
    .venv/bin/python benchmarks/readme_tables.py --into README.md   # replace its marked block
    .venv/bin/python benchmarks/readme_tables.py --check README.md  # status 1 if that block is stale

For each image set with a ``sdpic bench rd`` JSON under ``results/bench/`` (Kodak, and the COCO photos),
the default model's BD-rates against AVIF, WebP, JPEG and VVC on PSNR and the three human-calibrated
distances; then the mean coding times per Kodak image and the quality range each sdpic model reaches.
BD-rates are recomputed from the averaged points (``sdpic.bench.rd.bd_rates_against``), negative = fewer
bytes than the other codec for the same quality. ``tests/benchmarks/test_readme_tables.py`` fails when
the README's block no longer matches the results.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from sdpic.bench import report
from sdpic.bench.rd import bd_rates_against, outdated_columns
from sdpic.cli import script_status
from sdpic.errors import ParameterError

BLOCK_NAME = "benchmarks/readme_tables.py"
RESULTS = Path(__file__).resolve().parent.parent / "results"
#: (label, RD JSON under results/) of each image set, in table order; a missing file is left out.
SETS = (("Kodak (24)", "bench/kodak_rd.json"), ("COCO (16 photos)", "bench/coco16_rd.json"))
REFERENCES = ("avif", "webp", "jpeg", "vvc")
METRICS = (("psnr", "PSNR"), ("lpips_alex", "LPIPS-Alex"), ("lpips_vgg", "LPIPS-VGG (held out)"),
           ("dists", "DISTS (held out)"))
MODEL = "sdpic"
#: The same files at realism 0, a row of its own where the default model decodes at another realism.
FAITHFUL = "sdpic-r0"
NAMES = {"avif": "AVIF", "webp": "WebP", "jpeg": "JPEG", "vvc": "VVC (VVenC)", "jxl": "JPEG XL", "heic": "HEIC"}


def _pct(value: float | None) -> str:
    return "n/a" if value is None else report.signed(value, 1, "%", minus="\u2212")


def _load(results: Path, name: str) -> dict[str, Any] | None:
    path = results / name
    if not path.is_file():
        return None
    doc = json.loads(path.read_text())
    outdated = outdated_columns(doc)
    if outdated:
        raise ParameterError(f"{path}: {outdated}")
    return doc


def comparison_block(results: Path = RESULTS) -> str:
    """The Markdown block: BD-rate table per set, coding times, quality range."""
    docs = [(label, doc) for label, name in SETS if (doc := _load(results, name)) is not None]
    decoders = [MODEL, *([FAITHFUL] if any(FAITHFUL in d["codecs"] for _, d in docs) else [])]
    lines = [
        f"BD-rate of `{MODEL}` (the default model) against each codec, at equal quality: negative = smaller files.",
        "",
        "| images | decoded at | vs | " + " | ".join(label for _, label in METRICS) + " |",
        "|---|---|---|" + "---:|" * len(METRICS),
    ]
    kodak = None
    for label, doc in docs:
        kodak = kodak or doc
        for codec in decoders:
            if codec not in doc["codecs"]:
                continue
            realism = doc["codecs"][codec].get("options", {}).get("realism", 0.0)
            decoded = f"realism {realism:g}" + (" (default)" if codec == MODEL and len(decoders) > 1 else "")
            for ref in REFERENCES:
                if ref not in doc["codecs"]:
                    continue
                bd = bd_rates_against(doc, codec, ref)
                cells = " | ".join(_pct(bd.get(m)) for m, _ in METRICS)
                lines.append(f"| {label} | {decoded} | {NAMES[ref]} | {cells} |")
    if kodak is None:
        raise ParameterError(f"no RD results under {results}/bench")
    lines += ["", "Mean time per Kodak image (768x512) in the same run (two images at a time on 2 cores), and the "
              "quality range each codec's settings span:", "",
              "| codec | encode s | decode s | PSNR range (dB) |", "|---|---:|---:|---|"]
    for codec in (MODEL, FAITHFUL, "sdpic-mse", *REFERENCES):
        points = kodak["codecs"].get(codec, {}).get("points", [])
        if not points:
            continue
        enc = sum(p["encode_s"] for p in points) / len(points)
        dec = sum(p["decode_s"] for p in points) / len(points)
        lo, hi = min(p["psnr"] for p in points), max(p["psnr"] for p in points)
        bpp = f"{min(p['bpp'] for p in points):.2f}–{max(p['bpp'] for p in points):.2f} bpp"
        name = f"`{MODEL}` at realism 0" if codec == FAITHFUL else NAMES.get(codec, f"`{codec}`")
        lines.append(f"| {name} | {enc:.3f} | {dec:.3f} | {lo:.1f}–{hi:.1f} at {bpp} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    return report.marked_block_main(argv, __doc__, BLOCK_NAME, RESULTS, comparison_block)


if __name__ == "__main__":
    sys.exit(script_status(main))

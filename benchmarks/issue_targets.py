"""The open issues' measurable targets, read from the committed result files: one generated table.

    .venv/bin/python benchmarks/issue_targets.py                 # print the table
    .venv/bin/python benchmarks/issue_targets.py --into README.md  # replace its marked block
    .venv/bin/python benchmarks/issue_targets.py --check README.md # status 1 if that block is stale

The headline figures used to be copied by hand from the result JSONs into the README after every
`benchmarks/ship.sh`; a copy can go stale without anyone noticing. Here each target names the file and
the field it is measured from, so the README's status table is generated and a test
(tests/benchmarks/test_issue_targets.py) fails when it no longer matches the results. Nothing is measured here:
the figures are those of the last `sdpic bench rd` / `bench task` / `codec_speed.py` /
`saliency_allocation.py` runs, whose commands the result files record.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sdpic.bench import report
from sdpic.bench.rd import bd_rates_against, outdated_columns
from sdpic.bench.report import update_marked_file
from sdpic.cli import script_status
from sdpic.errors import ParameterError

BLOCK_NAME = "benchmarks/issue_targets.py"
RESULTS = Path(__file__).resolve().parent.parent / "results"


@dataclass(frozen=True)
class Measured:
    value: float
    text: str  # the value as the table shows it, with whatever context makes it readable


@dataclass(frozen=True)
class Target:
    issue: int
    what: str
    source: str  # a file under results/
    measure: Callable[[dict[str, Any]], Measured]
    limit: float
    at_most: bool  # met when value <= limit (else when value >= limit)
    limit_text: str
    strict: bool = False  # the limit itself does not meet the target

    def met(self, value: float) -> bool:
        if self.strict and value == self.limit:
            return False
        return value <= self.limit if self.at_most else value >= self.limit


def signed(value: float, digits: int, suffix: str = "") -> str:
    """``+1.5%`` / ``−1.5%``, with the typographic minus the hand-written docs use."""
    return report.signed(value, digits, suffix, minus="\u2212")


def bd_rate(codec: str, metric: str, reference: str) -> Callable[[dict[str, Any]], Measured]:
    """BD-rate (%) of ``codec`` against ``reference`` from a ``sdpic bench rd`` JSON, recomputed from the
    averaged points (the JSON stores the BD-rates against its own reference only)."""

    def measure(doc: dict[str, Any]) -> Measured:
        outdated = outdated_columns(doc)
        if outdated:
            raise ParameterError(f"the RD results cannot be read for {metric}: {outdated}")
        value = bd_rates_against(doc, codec, reference).get(metric)
        if value is None:
            raise ParameterError(f"BD-rate of {codec!r} vs {reference!r} on {metric} undefined (no overlap)")
        return Measured(value, signed(value, 1, "%"))

    return measure


def mean_seconds(field: str) -> Callable[[dict[str, Any]], Measured]:
    """A mean time per image from ``benchmarks/codec_speed.py``'s JSON."""

    def measure(doc: dict[str, Any]) -> Measured:
        return Measured(doc[field], f"{doc[field]:.3f} s ({doc['threads']} threads, quality {doc['quality']:g})")

    return measure


def task_score_margin(
    codec: str, reference: str, score: str, target_bpp: float
) -> Callable[[dict[str, Any]], Measured]:
    """``codec``'s task score minus ``reference``'s at one bpp target of a ``sdpic bench task`` JSON."""

    def point(doc: dict[str, Any], name: str) -> dict[str, Any]:
        for p in doc["codecs"].get(name, {}).get("points", []):
            if p["target_bpp"] == target_bpp:
                return p
        raise ParameterError(f"no {target_bpp:g}-bpp point for {name!r} in the task results")

    def measure(doc: dict[str, Any]) -> Measured:
        mine, theirs = point(doc, codec), point(doc, reference)
        margin = mine[score] - theirs[score]
        return Measured(margin, f"{mine[score]:.3f} at {mine['bpp']:.3f} bpp vs {theirs[score]:.3f} at "
                                f"{theirs['bpp']:.3f} bpp ({signed(margin, 3)}, {doc['images']} images)")

    return measure


def salient_bpp_gain(doc: dict[str, Any]) -> Measured:
    """Relative change of the salient region's bpp from ``--saliency none`` to ``auto``
    (``benchmarks/saliency_allocation.py``)."""
    none, auto = doc["mean"]["none"]["bpp_salient"], doc["mean"]["auto"]["bpp_salient"]
    gain = 100 * (auto / none - 1)
    return Measured(gain, f"{none:.3f} → {auto:.3f} bpp ({signed(gain, 0, '%')}, quality {doc['quality']:g}, "
                          f"{len(doc['per_image'])} images)")


RD = "bench/kodak_rd.json"
TARGETS = (
    Target(2, "decode time per Kodak image", "codec/speed_kodak.json", mean_seconds("decode_s"), 0.3, True, "≤ 0.3 s"),
    Target(2, "encode time per Kodak image", "codec/speed_kodak.json", mean_seconds("encode_s"), 0.5, True, "≤ 0.5 s"),
    Target(2, "`sdpic-mse` PSNR BD-rate vs JPEG", RD, bd_rate("sdpic-mse", "psnr", "jpeg"), -40, True, "≤ −40%"),
    Target(2, "`sdpic-mse` PSNR BD-rate vs WebP", RD, bd_rate("sdpic-mse", "psnr", "webp"), -10, True, "≤ −10%"),
    # sdpic trains on LPIPS-Alex, so its perceptual targets are on the two distances it never saw.
    Target(29, "`sdpic` held-out LPIPS-VGG BD-rate vs AVIF", RD, bd_rate("sdpic", "lpips_vgg", "avif"), -10, True,
           "≤ −10%"),
    Target(29, "`sdpic` held-out DISTS BD-rate vs AVIF", RD, bd_rate("sdpic", "dists", "avif"), -10, True, "≤ −10%"),
    Target(5, "`sdpic` salient-region PSNR BD-rate vs AVIF (default ROI strength)", RD,
           bd_rate("sdpic", "psnr_salient", "avif"), 0, True, "≤ 0%"),
    Target(5, "`sdpic-mse` PSNR BD-rate vs WebP", RD, bd_rate("sdpic-mse", "psnr", "webp"), -20, True, "≤ −20%"),
    Target(5, "ImageNet top-1 (MobileNetV2) at 0.15 bpp, `sdpic` vs AVIF", "bench/task_classify.json",
           task_score_margin("sdpic", "avif", "top1", 0.15), 0, False, "≥ AVIF's"),
    Target(5, "bits on the salient region, `--saliency auto` vs `none` (same quality)",
           "saliency_allocation/kodak.json", salient_bpp_gain, 0, False, "more with `auto`", strict=True),
)


def load_json(results: Path, name: str) -> dict[str, Any]:
    path = results / name
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ParameterError(f"{path}: cannot read result JSON ({exc})") from None


def targets_table(results: Path = RESULTS) -> str:
    """The Markdown table of every target with its measured value and whether it is met."""
    docs: dict[str, dict[str, Any]] = {}
    lines = ["| issue | quantity | target | measured | met | from |", "|---:|---|---|---|---|---|"]
    for t in TARGETS:
        doc = docs.setdefault(t.source, load_json(results, t.source))
        m = t.measure(doc)
        verdict = "**yes**" if t.met(m.value) else "no"
        lines.append(f"| {t.issue} | {t.what} | {t.limit_text} | {m.text} | {verdict} | `results/{t.source}` |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=RESULTS, help="the results folder (default: the repo's)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--into", type=Path, metavar="FILE",
                       help=f"write the table between '<!-- {BLOCK_NAME}: begin -->' and '...: end -->' of FILE")
    where.add_argument("--check", type=Path, metavar="FILE", help="status 1 if FILE's block differs from the table")
    args = parser.parse_args(argv)
    table = targets_table(args.results)
    target = args.into or args.check
    if target is None:
        print(table, end="")
        return 0
    if update_marked_file(target, BLOCK_NAME, table, check=args.check is not None) or args.into:
        print(target)
        return 0
    print(f"{target}: the targets table is stale; run benchmarks/issue_targets.py --into {target}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(script_status(main))

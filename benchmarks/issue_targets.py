"""The open issues' measurable targets, read from the committed result files: one generated table.

    .venv/bin/python benchmarks/issue_targets.py                          # print the table
    .venv/bin/python benchmarks/issue_targets.py --into results/README.md   # replace its marked block
    .venv/bin/python benchmarks/issue_targets.py --check results/README.md  # status 1 if that block is stale

Each target names the file and the field it is measured from, so the status table in results/README.md is
generated and a test (tests/benchmarks/test_issue_targets.py) fails when it no longer matches the results.
Nothing is measured here: the figures are those of the last `sdpic bench rd` / `bench task` /
`saliency_payoff.py` runs, whose commands the result files record.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sdpic.bench import report
from sdpic.bench.rd import bd_rates_against, outdated_columns
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


def photo_speed(field: str, label: str | None = None) -> Callable[[dict[str, Any]], Measured]:
    """MP/s of ``benchmarks/decode_speed.py``'s photo rows: the row whose name starts with ``label`` (the
    10.6 MP photo has no size label), or the slowest row when ``label`` is None."""

    def measure(doc: dict[str, Any]) -> Measured:
        rows = doc["rows"]
        if label is not None:
            rows = [r for r in rows if r["image"].startswith(label)]
        elif not rows:
            raise ParameterError("decode speed: no photo rows")
        if not rows:
            raise ParameterError(f"decode speed: no {label} row")
        row = min(rows, key=lambda r: r[field])
        return Measured(row[field], f"{row[field]:.2f} MP/s ({row['megapixels']:.1f} MP, "
                                    f"{doc['environment']['threads']} threads)")

    return measure


def kodak_decode(doc: dict[str, Any]) -> Measured:
    """Mean decode time per Kodak image of ``benchmarks/decode_speed.py --kodak``."""
    k = doc["kodak"]
    return Measured(k["decode_s"], f"{k['decode_s']:.3f} s (max {k['decode_max_s']:.3f}, {k['images']} images)")


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


def payoff(column: str) -> Callable[[dict[str, Any]], Measured]:
    """BD-rate (%) of ``--saliency auto`` against ``none`` at equal file size (``benchmarks/saliency_payoff.py``)."""

    def measure(doc: dict[str, Any]) -> Measured:
        value = doc["bd_rate_auto_vs_none"].get(column)
        if value is None:
            raise ParameterError(f"saliency payoff: no BD-rate for {column} (curves do not overlap)")
        return Measured(value, f"{signed(value, 1, '%')} ({doc['images']} ECSSD validation photos, "
                               f"ROI strength {doc['roi_strength']:g})")

    return measure


KODAK, COCO = "bench/kodak_rd.json", "bench/coco16_rd.json"
PAYOFF = "saliency_allocation/payoff.json"
SPEED = "codec/decode_speed.json"
# sdpic trains on LPIPS-Alex, so its perceptual targets are on the two distances it never saw.
TARGETS = (
    *(Target(30, f"`sdpic` held-out {label} BD-rate vs AVIF, {name}", src, bd_rate("sdpic", col, "avif"), -10, True,
             "≤ −10%")
      for name, src in (("Kodak", KODAK), ("COCO photos", COCO))
      for col, label in (("lpips_vgg", "LPIPS-VGG"), ("dists", "DISTS"))),
    *(Target(30, f"`--saliency auto` vs `none`, salient-region {label} BD-rate", PAYOFF, payoff(f"{col}_salient"),
             -10, True, "≤ −10%") for col, label in (("lpips_vgg", "LPIPS-VGG"), ("dists", "DISTS"))),
    *(Target(30, f"`--saliency auto` vs `none`, whole-image {label} BD-rate", PAYOFF, payoff(col), 5, True, "≤ +5%")
      for col, label in (("lpips_vgg", "LPIPS-VGG"), ("dists", "DISTS"))),
    *(Target(30, f"ImageNet top-1 (MobileNetV2) at {bpp:g} bpp, `sdpic` vs AVIF", "bench/task_classify.json",
             task_score_margin("sdpic", "avif", "top1", bpp), 0, False, "≥ AVIF's") for bpp in (0.1, 0.15, 0.2)),
    Target(30, "COCO128 mAP at 0.2 bpp, `sdpic` vs AVIF", "bench/task_detect.json",
           task_score_margin("sdpic", "avif", "map", 0.2), 0, False, "≥ AVIF's"),
    Target(32, "decode, 10.6 MP photo (PNG writing apart)", SPEED, photo_speed("decode_mp_s", "lomiri1604_Bridge"), 3,
           False, "≥ 3 MP/s"),
    Target(32, "decode, 24 MP photo (PNG writing apart)", SPEED, photo_speed("decode_mp_s", "24 MP"), 3, False,
           "≥ 3 MP/s"),
    Target(32, "decode per Kodak image", SPEED, kodak_decode, 0.15, True, "≤ 0.15 s"),
    Target(32, "encode, slowest of the 1 / 10.6 / 12 / 24 MP photos", SPEED, photo_speed("encode_mp_s"), 2, False,
           "≥ 2 MP/s"),
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
    return report.marked_block_main(argv, __doc__, BLOCK_NAME, RESULTS, targets_table)


if __name__ == "__main__":
    sys.exit(script_status(main))

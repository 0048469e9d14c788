"""Plots and Markdown tables from an RD JSON document: what users read to judge the codecs.

Everything here reads only the JSON (never reruns codecs), so figures can be regenerated or restyled
for free with ``sdpic bench report``. Published CompressAI Kodak curves, when the anchors folder is
present, are drawn as dashed reference lines (they were measured elsewhere; our own runs are solid).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ParameterError
from ..outputs import atomic_write_bytes
from .bdrate import LOWER_IS_BETTER
from .metrics import QUALITY_METRICS
from .rd import bd_rates_against

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Anchors overlaid by default: the classic codecs' strongest references and a few learned codecs.
DEFAULT_ANCHORS = (
    "vtm",
    "bpg_444_x265_ycbcr",
    "av1",
    "compressai-bmshj2018-hyperprior_mse_cpu",
    "compressai-cheng2020-anchor_mse_cpu",
    "paper-elic2022_mse",
)
#: Our metric name -> key in the CompressAI anchor JSON.
ANCHOR_KEYS = {"psnr": "psnr-rgb", "ms_ssim": "ms-ssim-rgb"}
METRIC_LABELS = {
    "psnr": "PSNR RGB (dB)",
    "ms_ssim": "MS-SSIM (dB, -10 log10(1 - MS-SSIM))",
    "lpips_alex": "LPIPS-Alex, train metric (lower is better)",
    "lpips_vgg": "LPIPS-VGG, held out (lower is better)",
    "dists": "DISTS, held out (lower is better)",
    "psnr_salient": "PSNR inside the salient region (dB)",
}

#: Short names of the metrics for Markdown tables and plot titles. The perceptual model trains on
#: LPIPS-Alex, so a gain there may be the loss fitting its own yardstick; the held-out two are the test.
TABLE_LABELS = {"psnr": "PSNR", "ms_ssim": "MS-SSIM", "lpips_alex": "LPIPS-Alex (train metric)",
                "lpips_vgg": "LPIPS-VGG (held out)", "dists": "DISTS (held out)", "psnr_salient": "salient PSNR"}


def _ms_ssim_db(v: float | None) -> float | None:
    if v is None:
        return None
    return -10.0 * math.log10(max(1.0 - v, 1e-10))


def load_anchors(folder: Path | None, names: Sequence[str] = DEFAULT_ANCHORS) -> dict[str, dict[str, list[float]]]:
    """Published curves ``{label: {"bpp": [...], "psnr": [...], "ms_ssim": [...]}}``; missing files are skipped."""
    out: dict[str, dict[str, list[float]]] = {}
    if folder is None or not Path(folder).is_dir():
        return out
    for name in names:
        path = Path(folder) / f"{name}.json"
        if not path.is_file():
            continue
        try:
            doc = json.loads(path.read_text())
            res = doc["results"]
        except (OSError, ValueError, KeyError):
            continue
        curve: dict[str, list[float]] = {"bpp": list(res.get("bpp", []))}
        for ours, theirs in ANCHOR_KEYS.items():
            if theirs in res:
                curve[ours] = list(res[theirs])
        out[f"{name} (published)"] = curve
    return out


def plot_rd(
    doc: dict[str, Any],
    prefix: str | os.PathLike,
    anchors: dict[str, dict[str, list[float]]] | None = None,
    metrics: Sequence[str] = QUALITY_METRICS,
    max_bpp: float = 1.6,
) -> list[Path]:
    """One PNG per metric with data (``PREFIX_<metric>.png``); returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for metric in metrics:
        series = []
        for name, entry in doc["codecs"].items():
            pts = [p for p in entry.get("points", []) if p.get(metric) is not None and p.get("bpp") is not None]
            if len(pts) >= 1:
                series.append((name, [p["bpp"] for p in pts], [p[metric] for p in pts]))
        if not series:
            continue
        fig, ax = plt.subplots(figsize=(7.5, 5.2), dpi=110)
        cmap = plt.get_cmap("tab10")
        for i, (name, xs, ys) in enumerate(series):
            if metric == "ms_ssim":
                ys = [_ms_ssim_db(y) for y in ys]
            style = {"lw": 2.2} if name.startswith("sdpic") else {"lw": 1.4}
            ref = " (reference)" if name == doc.get("reference") else ""
            ax.plot(xs, ys, "o-", ms=3.5, color=cmap(i % 10), label=f"{name}{ref}", **style)
        for j, (label, curve) in enumerate((anchors or {}).items()):
            if metric not in curve:
                continue
            xs = curve["bpp"]
            ys = curve[metric] if metric != "ms_ssim" else [_ms_ssim_db(y) for y in curve[metric]]
            pairs = [(x, y) for x, y in zip(xs, ys, strict=False) if x <= max_bpp * 1.05]
            if pairs:
                ax.plot(*zip(*pairs, strict=False), "--", lw=1.0, color=plt.get_cmap("Dark2")(j % 8), alpha=0.8,
                        label=label)  # fmt: skip
        ax.set_xlim(0, max_bpp)
        ax.set_xlabel("bits per pixel (real file size)")
        ax.set_ylabel(METRIC_LABELS.get(metric, metric))
        title = TABLE_LABELS.get(metric, metric)
        ax.set_title(f"{doc.get('dataset', '')}: {title} vs rate ({doc.get('images', '?')} images)")
        ax.grid(True, alpha=0.3)
        # Curves of a distance fall with rate: their empty corner is the top right, not the bottom right.
        ax.legend(fontsize=7, loc="upper right" if metric in LOWER_IS_BETTER else "lower right")
        fig.tight_layout()
        written.append(save_figure(fig, Path(f"{prefix}_{metric}.png")))
    return written


def save_figure(fig: Figure, out: Path, dpi: float | None = None) -> Path:
    """Write a matplotlib figure as PNG with the project's atomic writer, and close it."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    atomic_write_bytes(out, buf.getvalue())
    return out


def signed(value: float, digits: int, suffix: str = "", minus: str = "-") -> str:
    """``+1.5%`` / ``-1.5%``; ``minus="\u2212"`` gives the typographic minus of the hand-written docs."""
    return f"{value:+.{digits}f}{suffix}".replace("-", minus)


def _fmt(v: float | None, digits: int = 1, suffix: str = "") -> str:
    if v is None:
        return "n/a"
    return signed(v, digits, suffix) if suffix == "%" else f"{v:.{digits}f}{suffix}"


def markdown_table(doc: dict[str, Any]) -> str:
    """BD-rate (vs the reference) per metric, mean encode/decode time, and the library that ran each codec."""
    metrics = [m for m in QUALITY_METRICS if any(v is not None for v in doc.get("bd_rate", {}).get(m, {}).values())]
    ref = doc.get("reference", "avif")
    lines = [
        f"BD-rate vs **{ref}** (negative = fewer bits for the same quality; Bjøntegaard, PCHIP, overlapping range), "
        f"{doc.get('dataset', '')}, {doc.get('images', '?')} images. Times: mean wall seconds per image over the "
        f"sweep, {doc.get('run', {}).get('threads_per_codec', 2)} threads.",
        "",
        "| codec | " + " | ".join(f"BD-rate {TABLE_LABELS.get(m, m)}" for m in metrics)
        + " | bpp range | encode s | decode s | library |",
        "|---|" + "---:|" * len(metrics) + "---|---:|---:|---|",
    ]
    for name, entry in doc["codecs"].items():
        pts = entry.get("points", [])
        if not pts:
            reason = entry.get("skipped", "no points")
            lines.append(f"| {name} | " + " | ".join("—" for _ in metrics) + f" | — | — | — | skipped: {reason} |")
            continue
        bds = [_fmt(doc["bd_rate"].get(m, {}).get(name), 1, "%") for m in metrics]
        bpps = [p["bpp"] for p in pts if p.get("bpp") is not None]
        enc = [p["encode_s"] for p in pts if p.get("encode_s") is not None]
        dec = [p["decode_s"] for p in pts if p.get("decode_s") is not None]
        lines.append(
            f"| {name} | "
            + " | ".join(bds)
            + f" | {min(bpps):.3f}–{max(bpps):.3f} | {_fmt(sum(enc) / len(enc) if enc else None, 3)}"
            + f" | {_fmt(sum(dec) / len(dec) if dec else None, 3)} | {entry.get('version', '')} |"
        )
    missing = [m for m in QUALITY_METRICS if m not in metrics]
    if missing:
        srcs = doc.get("metric_sources", {})
        lines.append("")
        for m in missing:
            lines.append(f"- `{m}`: no values ({srcs.get(m, 'not measured')})")
    return "\n".join(lines) + "\n"


# (key, header, format) of the full listing in PREFIX_table.md and of a model card's measured table
ALL_POINT_COLUMNS = tuple((key, key, fmt) for key, fmt in (
    ("setting", "{:g}"), ("bpp", "{:.4f}"), ("psnr", "{:.2f}"), ("ms_ssim", "{:.4f}"), ("lpips_alex", "{:.4f}"),
    ("lpips_vgg", "{:.4f}"), ("dists", "{:.4f}"), ("psnr_salient", "{:.2f}"), ("encode_s", "{:.4f}"),
    ("decode_s", "{:.4f}")))
CARD_COLUMNS = (("setting", "quality", "{:g}"), ("bpp", "bpp", "{:.3f}"), ("psnr", "PSNR (dB)", "{:.2f}"),
                ("ms_ssim", "MS-SSIM", "{:.4f}"), ("lpips_alex", TABLE_LABELS["lpips_alex"], "{:.4f}"),
                ("lpips_vgg", TABLE_LABELS["lpips_vgg"], "{:.4f}"), ("dists", TABLE_LABELS["dists"], "{:.4f}"),
                ("psnr_salient", "salient PSNR (dB)", "{:.2f}"))


def _point_cells(point: dict[str, Any], columns: Sequence[tuple[str, str, str]]) -> list[str]:
    return ["n/a" if point.get(key) is None else fmt.format(point[key]) for key, _, fmt in columns]


def points_table(doc: dict[str, Any]) -> str:
    """Every averaged RD point as a Markdown table (for readers who want the numbers behind the plots)."""
    lines = ["| codec | " + " | ".join(c[1] for c in ALL_POINT_COLUMNS) + " |",
             "|---|" + "---:|" * len(ALL_POINT_COLUMNS)]
    for name, entry in doc["codecs"].items():
        lines += [f"| {name} | " + " | ".join(_point_cells(p, ALL_POINT_COLUMNS)) + " |"
                  for p in entry.get("points", [])]
    return "\n".join(lines) + "\n"


def codec_points_table(doc: dict[str, Any], codec: str) -> str:
    """One codec's averaged points, one row per setting: the measured table of a model card. Columns no
    point measured are left out."""
    entry = doc["codecs"].get(codec)
    if not entry or not entry.get("points"):
        raise ParameterError(f"no measured points for codec {codec!r} (have: {', '.join(doc['codecs'])})")
    points = entry["points"]
    cols = [c for c in CARD_COLUMNS if any(p.get(c[0]) is not None for p in points)]
    lines = ["| " + " | ".join(c[1] for c in cols) + " |", "|" + "---:|" * len(cols)]
    lines += ["| " + " | ".join(_point_cells(p, cols)) + " |" for p in points]
    return "\n".join(lines) + "\n"


def codec_bd_rates_table(doc: dict[str, Any], codec: str) -> str:
    """BD-rates of ``codec`` against each other codec of ``doc`` (one row per reference, one column per
    metric), recomputed from the averaged points: the comparison table of a model card. Empty when ``doc``
    has no other codec."""
    others = [name for name, entry in doc["codecs"].items() if name != codec and entry.get("points")]
    if not others:
        return ""
    tables = {ref: bd_rates_against(doc, codec, ref) for ref in others}
    metrics = [m for m in QUALITY_METRICS if any(t.get(m) is not None for t in tables.values())]
    lines = [f"BD-rate of {codec} against each codec (negative = {codec} needs fewer bits for the same quality):",
             "", "| against | " + " | ".join(TABLE_LABELS[m] for m in metrics) + " |",
             "|---|" + "---:|" * len(metrics)]
    lines += [f"| {ref} | " + " | ".join(_fmt(tables[ref].get(m), 1, "%") for m in metrics) + " |"
              for ref in others]
    return "\n".join(lines) + "\n"


def replace_marked_block(text: str, name: str, block: str) -> str:
    """``text`` with the lines between ``<!-- NAME: begin -->`` and ``<!-- NAME: end -->`` replaced by
    ``block``: generated tables inside hand-written documents (model cards) stay in step with the JSON."""
    begin, end = f"<!-- {name}: begin -->", f"<!-- {name}: end -->"
    head, found, rest = text.partition(begin)
    _, found_end, tail = rest.partition(end)
    if not found or not found_end:
        raise ParameterError(f"no '{begin}' ... '{end}' block to replace")
    return f"{head}{begin}\n{block}{end}{tail}"


def update_marked_file(path: Path, name: str, block: str, check: bool = False) -> bool:
    """Put ``block`` into ``path``'s marked block (atomically), or with ``check`` only say whether it is there.

    Returns True when the file already held ``block``. The generators of README and card tables share it.
    """
    try:
        text = path.read_text()
    except OSError as exc:
        raise ParameterError(f"{path}: {exc}") from None
    updated = replace_marked_block(text, name, block)
    if updated != text and not check:
        atomic_write_bytes(path, updated.encode())
    return updated == text


def marked_block_main(argv: list[str] | None, doc: str, name: str, results: Path,
                      make_block: Callable[[Path], str]) -> int:
    """The command line of a script that generates one marked block from the results folder:
    print it, ``--into FILE`` (replace FILE's block) or ``--check FILE`` (status 1 when it is stale)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=results, help="the results folder (default: the repo's)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--into", type=Path, metavar="FILE", help=f"replace FILE's '<!-- {name}: begin -->' block")
    where.add_argument("--check", type=Path, metavar="FILE", help="status 1 if FILE's block is stale")
    args = parser.parse_args(argv)
    block = make_block(args.results)
    target = args.into or args.check
    if target is None:
        print(block, end="")
        return 0
    if update_marked_file(target, name, block, check=args.check is not None) or args.into:
        print(target)
        return 0
    print(f"{target}: the generated block is stale; run {name} --into {target}", file=sys.stderr)
    return 1


def write_report(doc: dict[str, Any], prefix: str | os.PathLike, anchors_dir: Path | None = None) -> list[Path]:
    """Plots plus ``PREFIX_table.md`` (BD-rates, speeds, every point); returns the files written."""
    files = plot_rd(doc, prefix, load_anchors(anchors_dir))
    table = Path(f"{prefix}_table.md")
    text = markdown_table(doc) + "\n### All points (averaged over images)\n\n" + points_table(doc)
    atomic_write_bytes(table, text.encode())
    return [*files, table]


#: Score plotted per task (the first is the headline; all are in the table).
TASK_SCORES = {"classify": ("top1", "top5"), "detect": ("map", "map50"), "segment": ("miou",)}
TASK_LABELS = {
    "top1": "top-1 accuracy",
    "top5": "top-5 accuracy",
    "map": "mAP@[.5:.95]",
    "map50": "mAP@.5",
    "miou": "mIoU vs prediction on the original",
}


def write_task_report(docs: Sequence[dict[str, Any]], prefix: str | os.PathLike) -> list[Path]:
    """``PREFIX.md`` (one table per task, :func:`sdpic.bench.task.format_task_table`) and ``PREFIX.png``.

    The figure has one panel per task: the headline score vs the measured mean bpp for each codec, with
    the uncompressed score as a dashed line.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .task import format_task_table

    if not docs:
        raise ValueError("no task results to report")
    fig, axes = plt.subplots(1, len(docs), figsize=(5.2 * len(docs), 4.2), dpi=110, squeeze=False)
    cmap = plt.get_cmap("tab10")
    for ax, doc in zip(axes[0], docs, strict=True):
        score = TASK_SCORES.get(doc["task"], tuple(doc["uncompressed"]))[0]
        for i, (name, entry) in enumerate(doc["codecs"].items()):
            pts = [p for p in entry.get("points", []) if p.get(score) is not None]
            if pts:
                style = {"lw": 2.2} if name.startswith("sdpic") else {"lw": 1.4}
                ax.plot([p["bpp"] for p in pts], [p[score] for p in pts], "o-", ms=4, color=cmap(i % 10), label=name,
                        **style)  # fmt: skip
        base = doc["uncompressed"].get(score)
        if base is not None:
            ax.axhline(base, ls="--", color="k", lw=1.0, label="uncompressed")
        ax.set_xlabel("bits per pixel (mean over images)")
        ax.set_ylabel(TASK_LABELS.get(score, score))
        ax.set_title(f"{doc['task']}: {doc['dataset']} ({doc['images']} images)", fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    png = save_figure(fig, Path(f"{prefix}.png"))
    md = Path(f"{prefix}.md")
    atomic_write_bytes(md, "\n".join(format_task_table(d) for d in docs).encode())
    return [png, md]

"""What transparency costs: alpha coders, the colour under transparent pixels, and the bytes alpha adds to an
sdpic, WebP and AVIF file, on real cut-outs (the design measurements behind sdpic.alpha).

Images: ECSSD validation photos (held out of codec training) cut out with their ground-truth masks, three
ways: ``binary`` (the 0/255 mask as alpha), ``soft`` (the mask blurred with a 1-pixel Gaussian: the
anti-aliased edge of a real cut-out) and ``icon`` (the soft cut-out scaled to 96 pixels on its long side,
box filter on premultiplied colour, so its edge is anti-aliased too).

1. ``coders``: bytes of the alpha plane alone: WebP lossless at effort 4 (what sdpic stores) and 6, PNG
   8-bit (Pillow, optimize), PNG 1-bit (binary masks only), zlib level 9 of the raw plane.
2. ``fills``: sdpic's RGB stream under five treatments of the colour under fully transparent pixels, at
   quality 25 / 50 / 80: ``keep`` (the photo's hidden background), ``white``, ``mean`` (mean visible
   colour), ``premultiplied`` (colour x alpha, un-premultiplied after decoding) and ``push-pull``
   (sdpic.alpha.fill_transparent). Quality is PSNR over the visible pixels: squared error weighted by
   alpha / 255, straight colour. ``fill_bd_rate``: BD-rate of each treatment against push-pull over the
   three qualities (mean curves; negative = fewer bytes at the same visible PSNR).
3. ``overhead``: bytes of the RGBA file against the same codec's RGB-only file of the same (filled)
   colour, for sdpic (quality 50), WebP (lossy, method 6) and AVIF (Pillow's libavif, default speed) at
   several settings; the decoded alpha's largest error; visible PSNR. ``matched`` names, per kind, the
   WebP and AVIF setting whose visible PSNR is closest to sdpic's.

    nice -n 5 .venv/bin/python benchmarks/alpha_overhead.py --json results/metadata/alpha_overhead.json \\
        --markdown results/metadata/alpha_overhead.md
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("binary", "soft", "icon")
FILLS = ("keep", "white", "mean", "premultiplied", "push-pull")
FILL_QUALITIES = (25, 50, 80)
SDPIC_QUALITY = 50
WEBP_SETTINGS = (50, 75, 90)
AVIF_SETTINGS = (40, 60, 80)
ICON_SIDE = 96


def cutouts(ecssd: Path, image_id: str) -> dict[str, np.ndarray]:
    """The three RGBA cut-outs (uint8 HxWx4) of one ECSSD photo."""
    photo = np.asarray(Image.open(ecssd / "images" / f"{image_id}.jpg").convert("RGB"))
    mask = Image.open(ecssd / "masks" / f"{image_id}.png").convert("L")
    soft = np.asarray(mask.filter(ImageFilter.GaussianBlur(1.0)))
    out = {"binary": np.dstack([photo, np.asarray(mask)]), "soft": np.dstack([photo, soft])}
    scale = ICON_SIDE / max(photo.shape[:2])
    size = (max(1, round(photo.shape[1] * scale)), max(1, round(photo.shape[0] * scale)))
    icon = Image.fromarray(out["soft"], "RGBA").convert("RGBa").resize(size, Image.BOX).convert("RGBA")
    out["icon"] = np.asarray(icon)
    return out


def visible_psnr(reference: np.ndarray, decoded: np.ndarray, alpha: np.ndarray) -> float:
    """PSNR of the straight colour over the visible pixels (squared error weighted by alpha / 255)."""
    w = alpha.astype(np.float64)[..., None] / 255.0
    mse = float((w * (reference.astype(np.float64) - decoded) ** 2).sum() / (3.0 * w.sum()))
    return 10.0 * np.log10(255.0 ** 2 / max(mse, 1e-12))


def pil_bytes(img: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **params)
    return buf.getvalue()


def coder_sizes(plane: np.ndarray, binary: bool) -> dict[str, int]:
    from sdpic.alpha import encode_plane

    img = Image.fromarray(plane, "L")
    sizes = {"webp-lossless-m4 (sdpic)": len(encode_plane(plane)),
             "webp-lossless-m6": len(pil_bytes(img, "WEBP", lossless=True, quality=100, method=6)),
             "png-8bit": len(pil_bytes(img, "PNG", optimize=True)),
             "zlib-9-raw": len(zlib.compress(plane.tobytes(), 9))}
    if binary:
        sizes["png-1bit"] = len(pil_bytes(img.convert("1", dither=Image.Dither.NONE), "PNG", optimize=True))
    return sizes


def filled(rgba: np.ndarray, fill: str) -> np.ndarray:
    """The colour the codec is given under treatment ``fill``."""
    from sdpic.alpha import fill_transparent

    colour, alpha = rgba[..., :3], rgba[..., 3]
    hidden = alpha == 0
    out = colour.copy()
    if fill == "white":
        out[hidden] = 255
    elif fill == "mean":
        out[hidden] = np.rint(colour[~hidden].mean(axis=0)).astype(np.uint8)
    elif fill == "premultiplied":
        out = np.rint(colour * (alpha[..., None] / 255.0)).astype(np.uint8)
    elif fill == "push-pull":
        out = fill_transparent(colour, alpha)
    return out


def decoded_colour(rgb: np.ndarray, alpha: np.ndarray, fill: str) -> np.ndarray:
    """Decoded colour as a viewer would use it (premultiplied colour divided by alpha again)."""
    if fill != "premultiplied":
        return rgb.astype(np.float64)
    a = alpha.astype(np.float64)[..., None] / 255.0
    return np.clip(np.where(a > 0, rgb / np.maximum(a, 1e-12), 0.0), 0, 255)


def sdpic_point(rgb: np.ndarray, quality: int) -> tuple[int, np.ndarray]:
    import sdpic

    data = sdpic.compress(rgb, quality=quality, threads=1)
    return len(data), np.asarray(sdpic.decompress(data, threads=1))


def overhead(rgba: np.ndarray) -> dict[str, dict]:
    """RGB-only vs RGBA bytes of each codec on the push-pull-filled colour."""
    import sdpic

    colour, alpha = filled(rgba, "push-pull"), rgba[..., 3]
    reference = rgba[..., :3]
    result: dict[str, dict] = {}
    rgb_only = sdpic.compress(colour, quality=SDPIC_QUALITY, threads=1)
    with_alpha = sdpic.compress(np.dstack([colour, alpha]), quality=SDPIC_QUALITY, threads=1)
    decoded = np.asarray(sdpic.decompress(with_alpha, threads=1))
    result["sdpic"] = {str(SDPIC_QUALITY): {
        "rgb_bytes": len(rgb_only), "rgba_bytes": len(with_alpha),
        "alpha_max_error": int(np.abs(decoded[..., 3].astype(int) - alpha).max()),
        "visible_psnr": visible_psnr(reference, decoded[..., :3], alpha)}}
    for codec, fmt, settings, params in (("webp", "WEBP", WEBP_SETTINGS, {"method": 6}),
                                         ("avif", "AVIF", AVIF_SETTINGS, {"max_threads": 1})):
        result[codec] = {}
        for q in settings:
            rgb_data = pil_bytes(Image.fromarray(colour, "RGB"), fmt, quality=q, **params)
            rgba_data = pil_bytes(Image.fromarray(np.dstack([colour, alpha]), "RGBA"), fmt, quality=q, **params)
            back = np.asarray(Image.open(io.BytesIO(rgba_data)).convert("RGBA"))
            result[codec][str(q)] = {
                "rgb_bytes": len(rgb_data), "rgba_bytes": len(rgba_data),
                "alpha_max_error": int(np.abs(back[..., 3].astype(int) - alpha).max()),
                "visible_psnr": visible_psnr(reference, back[..., :3], alpha)}
    return result


def mean_dicts(rows: list[dict]) -> dict:
    """Element-wise mean of nested dicts of numbers (rounded: counts to 0.1, other values to 0.001)."""
    first = rows[0]
    if isinstance(first, dict):
        return {k: mean_dicts([r[k] for r in rows]) for k in first}
    value = float(np.mean(rows))
    return round(value, 3) if not all(isinstance(r, int) for r in rows) else round(value, 1)


def markdown(doc: dict) -> str:
    """The tables of results/metadata/README.md."""
    lines = ["### Alpha plane coders (mean bytes per image)", "",
             "| kind | " + " | ".join(doc["coders"]["binary"]) + " |",
             "|---|" + "---|" * len(doc["coders"]["binary"])]
    for kind in KINDS:
        row = doc["coders"][kind]
        lines.append(f"| {kind} | " + " | ".join(str(row.get(c, "–")) for c in doc["coders"]["binary"]) + " |")
    lines += ["", "### Colour under transparent pixels: sdpic bytes / visible PSNR (dB), mean per image", "",
              "| kind | quality | " + " | ".join(FILLS) + " |", "|---|---|" + "---|" * len(FILLS)]
    for kind in KINDS:
        for q in FILL_QUALITIES:
            cells = [f"{doc['fills'][kind][str(q)][f]['bytes']:.0f} / {doc['fills'][kind][str(q)][f]['psnr']:.2f}"
                     for f in FILLS]
            lines.append(f"| {kind} | {q} | " + " | ".join(cells) + " |")
    lines += ["", "BD-rate against push-pull (visible PSNR; positive = more bytes for the same quality):", "",
              "| kind | " + " | ".join(FILLS) + " |", "|---|" + "---|" * len(FILLS)]
    for kind in KINDS:
        cells = [f"{doc['fill_bd_rate'][kind][f]:+.1f}%" for f in FILLS]
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    lines += ["", "### Bytes alpha adds (RGBA file − RGB-only file of the same filled colour), mean per image", "",
              "| kind | codec (setting) | RGB-only | RGBA | alpha adds | alpha max error | visible PSNR |",
              "|---|---|---|---|---|---|---|"]
    for kind in KINDS:
        for codec, setting in (("sdpic", str(SDPIC_QUALITY)), *doc["matched"][kind].items()):
            r = doc["overhead"][kind][codec][setting]
            added = r["rgba_bytes"] - r["rgb_bytes"]
            lines.append(f"| {kind} | {codec} ({setting}) | {r['rgb_bytes']:.0f} | {r['rgba_bytes']:.0f} | "
                         f"{added:.0f} ({100 * added / r['rgb_bytes']:.0f}%) | {r['alpha_max_error']:.1f} | "
                         f"{r['visible_psnr']:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ecssd", type=Path, default=ROOT.parent / "shared" / "data" / "ecssd")
    parser.add_argument("--images", type=int, default=12, help="first N ECSSD validation ids")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--markdown", type=Path, default=None)
    args = parser.parse_args()
    if not (args.ecssd / "masks").is_dir():
        print(f"ECSSD not found at {args.ecssd}", file=sys.stderr)
        return 1
    import torch

    from sdpic.bench.bdrate import bd_rate

    torch.set_num_threads(1)
    split = json.loads((ROOT / "src" / "sdpic" / "saliency" / "split.json").read_text())
    ids = split["val"][: args.images]
    t0 = time.time()
    per_image: dict[str, dict] = {}
    for image_id in ids:
        entry: dict[str, dict] = {}
        for kind, rgba in cutouts(args.ecssd, image_id).items():
            alpha = rgba[..., 3]
            fills: dict[str, dict] = {}
            for q in FILL_QUALITIES:
                fills[str(q)] = {}
                for fill in FILLS:
                    size, back = sdpic_point(filled(rgba, fill), q)
                    fills[str(q)][fill] = {"bytes": size, "psnr": visible_psnr(
                        rgba[..., :3], decoded_colour(back, alpha, fill), alpha)}
            entry[kind] = {"size": list(rgba.shape[1::-1]), "transparent_share": float((alpha == 0).mean()),
                           "coders": coder_sizes(alpha, kind == "binary"), "fills": fills,
                           "overhead": overhead(rgba)}
        per_image[image_id] = entry
        print(f"{image_id}: {time.time() - t0:.0f} s", flush=True)
    doc = {"command": " ".join(["benchmarks/alpha_overhead.py", *sys.argv[1:]]), "images": ids,
           "icon_side": ICON_SIDE, "sdpic_quality": SDPIC_QUALITY, "seconds": round(time.time() - t0),
           "coders": {}, "fills": {}, "fill_bd_rate": {}, "overhead": {}, "matched": {}}
    for kind in KINDS:
        rows = [per_image[i][kind] for i in ids]
        doc["coders"][kind] = {c: round(float(np.mean([r["coders"][c] for r in rows])))
                               for c in rows[0]["coders"]}
        doc["fills"][kind] = mean_dicts([r["fills"] for r in rows])
        curve = {f: ([doc["fills"][kind][str(q)][f]["bytes"] for q in FILL_QUALITIES],
                     [doc["fills"][kind][str(q)][f]["psnr"] for q in FILL_QUALITIES]) for f in FILLS}
        doc["fill_bd_rate"][kind] = {f: round(bd_rate(*curve["push-pull"], *curve[f]), 2) for f in FILLS}
        doc["overhead"][kind] = mean_dicts([r["overhead"] for r in rows])
        target = doc["overhead"][kind]["sdpic"][str(SDPIC_QUALITY)]["visible_psnr"]
        doc["matched"][kind] = {c: min(doc["overhead"][kind][c],
                                       key=lambda s, c=c: abs(doc["overhead"][kind][c][s]["visible_psnr"] - target))
                                for c in ("webp", "avif")}
    doc["per_image"] = per_image
    text = markdown(doc)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=1) + "\n")
    if args.markdown:
        args.markdown.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

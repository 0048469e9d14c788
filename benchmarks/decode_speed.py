"""Decode and encode speed on photo-sized images (MP/s), beside AVIF on the same images, and where the
decoder's time goes.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/decode_speed.py --threads 2 \\
        --json results/codec/decode_speed.json --markdown results/codec/decode_speed.md
    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/decode_speed.py --profile --threads 2 \\
        --markdown results/codec/decode_profile.md

Images: the first photo of ``--photos`` (sorted; 4352x2448, 10.6 MP, the issue's reference) as it is, and
1, 12 and 24 MP versions of the photos whose sizes are closest (Lanczos-resized to exactly that many
pixels, same aspect). Without the photos every size is Kodak's kodim01 upscaled. Per image: the best of
``--repeat`` runs of ``sdpic.compress`` (from the RGB array, the default model and quality) and
``sdpic.decompress`` (to a PIL image: the PNG write is timed apart, with the decoder's default PNG
settings, and with zlib level 6, Pillow's default), and AVIF (Pillow/libaom, its defaults: quality 75,
speed 6, all threads) encoding and decoding the same pixels. With ``--kodak`` also the mean over Kodak's
24 images; with ``--memory`` the peak RSS of a fresh process decoding each stream (``sdpic.decompress``
and nothing else after the model is loaded).

``--profile`` splits decoding into stages by wrapping the decoder's functions with timers (wall seconds
for the main thread's stages, CPU seconds summed over workers for the strip stages, which run on
``--threads`` cores at once); it works on this version and on the one before the strip decoder (run it with
``PYTHONPATH`` pointing at an export of that version's ``src``).

Run on an idle machine (pause training: ``pkill -STOP -f "sdpic train"``, and ``-CONT`` after), or the
figures lie; the load average at the start is printed with the results.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import sdpic
from sdpic.zoo import DEFAULT_MODEL, load_model

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = ROOT.parent / "shared" / "data" / "photos_hr"
KODAK = ROOT.parent / "shared" / "data" / "kodak"
SIZES_MP = (1.0, 12.0, 24.0)


# ---------------------------------------------------------------------------------------------- images
def _resized(img: Image.Image, megapixels: float) -> Image.Image:
    aspect = img.width / img.height
    width = round((megapixels * 1e6 * aspect) ** 0.5)
    height = round(megapixels * 1e6 / width)
    return img.resize((width, height), Image.LANCZOS)


def test_images(photos: Path, kodak: Path) -> list[tuple[str, np.ndarray]]:
    """(label, RGB uint8) for the reference photo and the 1/12/24 MP sizes (see the module docstring)."""
    files = sorted(p for p in photos.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png")) if photos.is_dir() \
        else []
    images = []
    if files:
        sized = []
        for f in files:
            with Image.open(f) as im:
                sized.append((im.width * im.height / 1e6, f))
        first = Image.open(files[0]).convert("RGB")
        images.append((f"{files[0].name} {first.width}x{first.height}", np.asarray(first)))
        for mp in SIZES_MP:
            _, f = min(sized, key=lambda s, mp=mp: abs(s[0] - mp))
            img = _resized(Image.open(f).convert("RGB"), mp)
            images.append((f"{mp:g} MP: {f.name} -> {img.width}x{img.height}", np.asarray(img)))
    else:
        src = Image.open(sorted(kodak.glob("*.png"))[0]).convert("RGB")
        for mp in SIZES_MP:
            img = _resized(src, mp)
            images.append((f"{mp:g} MP: kodim01 upscaled to {img.width}x{img.height}", np.asarray(img)))
    return images


def best_of(fn, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def png_params() -> dict:
    """The decoder's PNG settings (``sdpic decompress``); before the strip decoder it wrote Pillow's default."""
    try:
        from sdpic.outputs import DECODED_PNG_PARAMS
    except ImportError:
        return {}
    return dict(DECODED_PNG_PARAMS)


def encode_bytes(img: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **params)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------- speed
def speed_row(label: str, rgb: np.ndarray, threads: int, repeat: int) -> dict:
    mp = rgb.shape[0] * rgb.shape[1] / 1e6
    enc_s, data = best_of(lambda: sdpic.compress(rgb, threads=threads), repeat)
    dec_s, img = best_of(lambda: sdpic.decompress(data, threads=threads), repeat)
    png_s, png = best_of(lambda: encode_bytes(img, "PNG", **png_params()), repeat)
    png6_s, png6 = best_of(lambda: encode_bytes(img, "PNG", compress_level=6), 1)
    source = Image.fromarray(rgb)
    avif_enc_s, avif = best_of(lambda: encode_bytes(source, "AVIF"), repeat)

    def avif_decode() -> Image.Image:
        with Image.open(io.BytesIO(avif)) as im:
            im.load()
            return im

    avif_dec_s, _ = best_of(avif_decode, repeat)
    return {"image": label, "megapixels": mp, "bpp": len(data) * 8 / (mp * 1e6),
            "encode_s": enc_s, "decode_s": dec_s, "encode_mp_s": mp / enc_s, "decode_mp_s": mp / dec_s,
            "png_write_s": png_s, "png_bytes": len(png), "png_level6_write_s": png6_s, "png_level6_bytes": len(png6),
            "avif_bpp": len(avif) * 8 / (mp * 1e6), "avif_encode_s": avif_enc_s, "avif_decode_s": avif_dec_s,
            "decode_vs_avif": dec_s / avif_dec_s, "encode_vs_avif": enc_s / avif_enc_s}


def kodak_row(kodak: Path, threads: int) -> dict:
    files = sorted(kodak.glob("*.png"))
    rgbs = [np.asarray(Image.open(f).convert("RGB")) for f in files]
    sdpic.decompress(sdpic.compress(rgbs[0], threads=threads), threads=threads)  # warm-up
    enc, dec = [], []
    for rgb in rgbs:
        t0 = time.perf_counter()
        data = sdpic.compress(rgb, threads=threads)
        t1 = time.perf_counter()
        sdpic.decompress(data, threads=threads)
        enc.append(t1 - t0)
        dec.append(time.perf_counter() - t1)
    return {"images": len(files), "encode_s": float(np.mean(enc)), "decode_s": float(np.mean(dec)),
            "decode_max_s": float(np.max(dec))}


# Peak RSS from /proc (VmHWM): ru_maxrss of a spawned child can report its parent's peak at the spawn.
MEMORY_CHILD = r"""
import json, sys
import torch
import sdpic
from sdpic.zoo import load_model
def peak_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
torch.set_num_threads(int(sys.argv[2]))
load_model()
loaded = peak_mb()
data = open(sys.argv[1], "rb").read()
img = sdpic.decompress(data, threads=int(sys.argv[2]))
print(json.dumps({"loaded_mb": loaded, "max_rss_mb": peak_mb()}))
"""


def memory_row(rgb: np.ndarray, threads: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="sdpic-dec-mem-") as tmp:
        stream = Path(tmp) / "image.sdpic"
        stream.write_bytes(sdpic.compress(rgb, threads=threads))
        out = subprocess.run([sys.executable, "-c", MEMORY_CHILD, str(stream), str(threads)], capture_output=True,
                             text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------- profile
class StageTimer:
    """Accumulates seconds per stage from wrapped functions, on any thread (wall and thread CPU time)."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self._active = threading.local()

    def wrap(self, owner: object, name: str, stage: str) -> None:
        original = getattr(owner, name, None)
        if original is None:
            return

        def timed(*args, **kwargs):
            active = self._active.__dict__.setdefault("stages", set())
            if stage in active:  # a timed function of the same stage calling another: count the outer one
                return original(*args, **kwargs)
            active.add(stage)
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                active.discard(stage)
                with self._lock:
                    self.wall[stage] += time.perf_counter() - wall
                    self.cpu[stage] += time.thread_time() - cpu
                    self.calls[stage] += 1

        setattr(owner, name, timed)


def install_timers(timer: StageTimer) -> None:
    """Wrap the decoder's stages, old (before the strip decoder) or new; a name one version lacks is skipped."""
    from sdpic import api
    from sdpic import format as fmt
    from sdpic.codec import coder, exact, model

    timer.wrap(fmt, "unpack", "container parse")
    for name in ("decode", "decode_values"):
        timer.wrap(coder.TableCoder, name, "entropy decoding (constriction, grouping by table)")
    timer.wrap(exact.ExactSequential, "__call__", "exact networks (h_s; context + fusion before the strip decoder)")
    timer.wrap(exact.ExactSequential, "matrix", "exact networks (context + fusion)")
    timer.wrap(model.SdpicModel, "decompress_latents", "latent decoding, total")
    timer.wrap(model.SdpicModel, "synthesise", "g_s, total (float image)")
    timer.wrap(model.SdpicModel, "synthesise_pixels", "g_s + colour conversion, total")
    try:
        from sdpic.codec import synthesis
    except ImportError:  # before the strip decoder: g_s was the nn.Module, run by worker threads
        timer.wrap(model.SynthesisTransform, "forward", "g_s strips (CPU, all workers)")
    else:
        timer.wrap(synthesis.StripSynthesis, "strip", "g_s strips (CPU, all workers)")
        timer.wrap(model, "to_uint8", "colour conversion: clamp, round, uint8 (CPU, all workers)")
    timer.wrap(api, "decoded_pixels", "colour conversion: clamp, round, uint8")
    timer.wrap(api, "to_pil", "to PIL image")


def overlap_share(latent_height: int, latent_width: int) -> tuple[float, float]:
    """Share of g_s's convolution work spent on rows outside the strips (their halos): before the strip decoder
    (every level ran on the strip plus 2 latent rows each side) and now (each level computes the rows the
    next reads). Counted from the strip bounds and each level's convolution size (MACs per row)."""
    from sdpic.codec.model import SYNTHESIS_HALO, synthesis_strips
    from sdpic.codec.transforms import SYNTHESIS_WIDTHS

    widths = (160, *SYNTHESIS_WIDTHS)
    macs = [widths[k] * 9 * 4 * (widths[k + 1] if k < 3 else 3) * 4**k for k in range(4)]  # per latent row
    own = old = new = 0.0
    for top, bottom in synthesis_strips(latent_height, latent_width):
        lo, hi = max(0, top - SYNTHESIS_HALO), min(latent_height, bottom + SYNTHESIS_HALO)
        for k, m in enumerate(macs):
            f, total = 1 << k, latent_height << k
            own += m / f * (bottom - top) * f
            old += m / f * (hi - lo) * f
            rows = (min((bottom << k) + 1, total) - max((top << k) - 1, 0)) if k < 3 else (bottom - top) << k
            new += m / f * rows
    return old / own - 1.0, new / own - 1.0


def profile_row(label: str, rgb: np.ndarray, threads: int, repeat: int, timer: StageTimer) -> dict:
    from sdpic.codec.model import latent_size

    data = sdpic.compress(rgb, threads=threads)
    sdpic.decompress(data, threads=threads)  # warm-up (oneDNN primitives, allocations)
    best = None
    for _ in range(repeat):
        timer.wall.clear(), timer.cpu.clear(), timer.calls.clear()
        t0 = time.perf_counter()
        img = sdpic.decompress(data, threads=threads)
        total = time.perf_counter() - t0
        if best is None or total < best["decode_s"]:
            best = {"decode_s": total, "wall": dict(timer.wall), "cpu": dict(timer.cpu)}
    writes = {}
    for name, fmt, params in (("PNG, decoder default", "PNG", png_params()), ("PNG, zlib level 6", "PNG",
                                                                              {"compress_level": 6}),
                              ("PPM", "PPM", {}), ("TIFF (uncompressed)", "TIFF", {}),
                              ("WebP lossless (method 0)", "WEBP", {"lossless": True, "quality": 0, "method": 0})):
        if max(img.size) > 16383 and fmt == "WEBP":
            continue
        seconds, out = best_of(lambda fmt=fmt, params=params: encode_bytes(img, fmt, **params), 1)
        writes[name] = {"seconds": seconds, "bytes": len(out)}
    lh, lw = latent_size(rgb.shape[0], rgb.shape[1])
    old_overlap, new_overlap = overlap_share(lh, lw)
    return {"image": label, "megapixels": rgb.shape[0] * rgb.shape[1] / 1e6, **best, "writes": writes,
            "overlap_before": old_overlap, "overlap_now": new_overlap}


# ---------------------------------------------------------------------------------------------- output
def environment(threads: int) -> dict:
    import sdpic.codec.model as model

    return {"date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "threads": threads,
            "load_average": os.getloadavg(), "cpu": platform.processor() or platform.machine(),
            "torch": torch.__version__, "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            "sdpic": str(Path(model.__file__).resolve().parents[2]), "model": DEFAULT_MODEL,
            "command": " ".join([Path(sys.executable).name, *sys.argv])}


def speed_markdown(result: dict) -> str:
    env = result["environment"]
    lines = [f"`{env['command']}`", "",
             f"{env['date_utc']}, {env['threads']} threads, load average at start {env['load_average'][0]:.2f}, "
             f"torch {env['torch']}, model {env['model']} at its default quality, code in `{env['sdpic']}`.", "",
             "| image | MP | bpp | decode s | decode MP/s | encode s | encode MP/s | PNG write s (level 6 s) | "
             "AVIF bpp | AVIF enc s | AVIF dec s | decode / AVIF | encode / AVIF |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['image']} | {r['megapixels']:.2f} | {r['bpp']:.3f} | {r['decode_s']:.2f} | "
                     f"**{r['decode_mp_s']:.2f}** | {r['encode_s']:.2f} | **{r['encode_mp_s']:.2f}** | "
                     f"{r['png_write_s']:.2f} ({r['png_level6_write_s']:.2f}) | {r['avif_bpp']:.3f} | "
                     f"{r['avif_encode_s']:.2f} | {r['avif_decode_s']:.3f} | {r['decode_vs_avif']:.0f}x | "
                     f"{r['encode_vs_avif']:.1f}x |")
    if "kodak" in result:
        k = result["kodak"]
        lines += ["", f"Kodak ({k['images']} images, 0.39 MP): decode **{k['decode_s']:.3f} s** mean "
                      f"(max {k['decode_max_s']:.3f}), encode {k['encode_s']:.3f} s mean."]
    if "memory" in result:
        lines += ["", "Peak RSS of a fresh process decoding the stream (model loaded: "
                      f"{result['memory'][0]['loaded_mb']:.0f} MB): "
                      + ", ".join(f"{m['megapixels']:.1f} MP **{m['max_rss_mb']:.0f} MB**" for m in result["memory"])]
    return "\n".join(lines) + "\n"


def profile_markdown(result: dict) -> str:
    env = result["environment"]
    threads = env["threads"]
    lines = [f"`{env['command']}`", "",
             f"{env['date_utc']}, {threads} threads, load average at start {env['load_average'][0]:.2f}, "
             f"code in `{env['sdpic']}`. The best of {result['repeat']} decodes. Stages on the main thread in wall "
             f"seconds; stages on the worker threads (marked: g_s's strips, the workers' colour conversion) in CPU "
             f"seconds summed over the workers, their share taken of {threads} x the decode's wall time. Totals "
             f"include the stages listed under them.", ""]
    for r in result["rows"]:
        decode = r["decode_s"]
        lines += [f"### {r['image']} ({r['megapixels']:.1f} MP): `sdpic.decompress` {decode:.2f} s "
                  f"({r['megapixels'] / decode:.2f} MP/s)", "", "| stage | seconds | share |", "|---|---|---|"]
        for stage in sorted(r["wall"], key=lambda s: -r["wall"][s]):
            if "all workers" in stage:
                lines.append(f"| {stage} | {r['cpu'][stage]:.3f} CPU | {r['cpu'][stage] / (threads * decode):.0%} |")
            else:
                lines.append(f"| {stage} | {r['wall'][stage]:.3f} | {r['wall'][stage] / decode:.0%} |")
        inner = [s for s in r["wall"] if s.startswith(("entropy", "exact"))]
        if "latent decoding, total" in r["wall"]:
            other = r["wall"]["latent decoding, total"] - sum(r["wall"][s] for s in inner)
            lines.append(f"| latent decoding: the rest (gathers, table lookups, escapes, ŷ) | {other:.3f} | "
                         f"{other / decode:.0%} |")
        lines.append(f"| strip overlap: halo rows in g_s's convolutions | | {r['overlap_before']:.0%} of the "
                     f"strips' own work before the strip decoder, {r['overlap_now']:.0%} now |")
        lines += ["", "| lossless write of the decoded image (not part of the decode) | s | MB |", "|---|---|---|"]
        for name, w in r["writes"].items():
            lines.append(f"| {name} | {w['seconds']:.3f} | {w['bytes'] / 1e6:.1f} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, default=PHOTOS)
    parser.add_argument("--kodak-dir", type=Path, default=KODAK)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--only", type=int, nargs="*", default=None, help="indices of the images to run")
    parser.add_argument("--profile", action="store_true", help="stage profile of decoding instead of speeds")
    parser.add_argument("--kodak", action="store_true", help="also the mean over Kodak's 24 images")
    parser.add_argument("--memory", action="store_true", help="also the peak RSS of decoding, per image")
    parser.add_argument("--memory-only", action="store_true", help="only the peak RSS (no timing)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--markdown", type=Path, default=None)
    parser.add_argument("--from-json", type=Path, default=None, help="only re-render a saved --json as markdown")
    args = parser.parse_args()
    if args.from_json is not None:
        saved = json.loads(args.from_json.read_text())
        text = profile_markdown(saved) if "overlap_now" in (saved["rows"] or [{}])[0] else speed_markdown(saved)
        print(text)
        if args.markdown:
            args.markdown.write_text(text)
        return
    torch.set_num_threads(args.threads)
    env = environment(args.threads)
    load_model(DEFAULT_MODEL)
    images = test_images(args.photos, args.kodak_dir)
    if args.only is not None:
        images = [images[i] for i in args.only]
    sdpic.decompress(sdpic.compress(images[0][1][:512, :512], threads=args.threads), threads=args.threads)
    result: dict = {"environment": env, "repeat": args.repeat, "rows": []}
    if args.profile:
        timer = StageTimer()
        install_timers(timer)
        for label, rgb in images:
            result["rows"].append(row := profile_row(label, rgb, args.threads, args.repeat, timer))
            print(f"{label}: {row['decode_s']:.2f} s", flush=True)
        text = profile_markdown(result)
    else:
        for label, rgb in [] if args.memory_only else images:
            result["rows"].append(row := speed_row(label, rgb, args.threads, args.repeat))
            print(f"{label}: decode {row['decode_mp_s']:.2f} MP/s, encode {row['encode_mp_s']:.2f} MP/s", flush=True)
        if args.kodak:
            result["kodak"] = kodak_row(args.kodak_dir, args.threads)
        if args.memory or args.memory_only:
            result["memory"] = [{"megapixels": rgb.shape[0] * rgb.shape[1] / 1e6, **memory_row(rgb, args.threads)}
                                for _, rgb in images]
        text = speed_markdown(result)
    print(text)
    result["max_rss_mb_this_process"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()

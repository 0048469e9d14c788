"""The JavaScript decoder (web/) against the Python decoder: agreement, speed, memory, fuzzing, download size.

Each step writes one JSON file in ``results/web/`` (with the command that made it); ``readme`` writes
``results/web/README.md`` from them. Streams, the Python decoder's pixels and jobs live in ``--work``
(default runs/web-bench). Needs ``make web`` (npm dependencies, model bundles) and ``npm run build`` in web/
for Chromium::

    .venv/bin/python benchmarks/web_decoder.py agreement --runtime node      # Kodak 24 x q10/50/90, saliency auto
    .venv/bin/python benchmarks/web_decoder.py agreement --runtime chromium
    .venv/bin/python benchmarks/web_decoder.py speed                         # Kodak q50 and the 10.6 MP photo
    .venv/bin/python benchmarks/web_decoder.py threads                       # Node with 1 and 2 threads
    .venv/bin/python benchmarks/web_decoder.py alpha                         # ECSSD cut-outs: RGBA and LA files
    .venv/bin/python benchmarks/web_decoder.py realism                       # the fixtures' realism decoder, Kodak
    .venv/bin/python benchmarks/web_decoder.py fuzz                          # benchmarks/fuzz_decoder.py's corpus
    .venv/bin/python benchmarks/web_decoder.py fuzz --version-2              # ... its version-2 sections
    .venv/bin/python benchmarks/web_decoder.py sizes
    .venv/bin/python benchmarks/web_decoder.py screenshot
    .venv/bin/python benchmarks/web_decoder.py readme
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import resource
import shlex
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT / "web"
RESULTS = ROOT / "results" / "web"
SHARED = Path(os.environ.get("SDPIC_SHARED", ROOT.parent / "shared"))
KODAK = SHARED / "data" / "kodak"
PHOTO = SHARED / "data" / "photos_hr" / "lomiri1604_Bridge_by_Sander_Klootwijk.jpg"  # 4352x2448, 10.6 MP
QUALITIES = (10, 50, 90)
THREADS = 2
ECSSD = SHARED / "data" / "ecssd"
FIXTURES = WEB / "test" / "fixtures"


def _command() -> str:
    return " ".join([".venv/bin/python", "benchmarks/web_decoder.py", *map(shlex.quote, sys.argv[1:])])


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _write(path: Path, report: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    report = {"command": _command(), "date": time.strftime("%Y-%m-%d %H:%M"), **report}
    path.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def _encode(work: Path, source: Path, quality: int, name: str) -> tuple[str, dict]:
    """A stream of ``source`` at ``quality`` with saliency auto, the Python decoder's record and raw pixels
    (cached in ``work``); returns the stream's file name there and the record."""
    import sdpic
    from sdpic.export.reference import decode_record, decoded_pixels

    stream, raw, meta = work / f"{name}.sdpic", work / f"{name}.raw", work / f"{name}.json"
    if not meta.is_file():
        data = sdpic.compress(str(source), quality=quality, saliency="auto", threads=THREADS)
        stream.write_bytes(data)
        raw.write_bytes(decoded_pixels(data).tobytes())
        meta.write_text(json.dumps(decode_record(data)))
    return stream.name, json.loads(meta.read_text())


_built = False


def _build() -> None:
    """The browser files (web/dist) from the current sources, once per run."""
    global _built
    if not _built:
        subprocess.run(["node", str(WEB / "scripts" / "build.mjs")], check=True, timeout=300, cwd=WEB)
        _built = True


def _node(job: dict, work: Path, timeout: float = 590.0) -> dict:
    if job.get("runtime") == "chromium" or job["mode"] in ("sizes", "screenshot"):
        _build()
    job_path, out_path = work / f"job-{job['mode']}-{job.get('runtime', '')}.json", work / "out.json"
    job_path.write_text(json.dumps(job))
    subprocess.run(["node", str(WEB / "scripts" / "bench.mjs"), str(job_path), str(out_path)], check=True,
                   timeout=timeout, cwd=WEB)
    return json.loads(out_path.read_text())


def kodak_streams(work: Path, qualities: tuple[int, ...]) -> list[tuple[str, dict]]:
    if not KODAK.is_dir():
        raise SystemExit(f"Kodak images not found at {KODAK} (set SDPIC_SHARED)")
    work.mkdir(parents=True, exist_ok=True)
    return [_encode(work, KODAK / f"kodim{k:02d}.png", q, f"kodim{k:02d}-q{q}")
            for q in qualities for k in range(1, 25)]


def agreement(args: argparse.Namespace) -> None:
    streams = kodak_streams(args.work, QUALITIES)
    files = [{"name": name, "reference": name.replace(".sdpic", ".raw"), "channels": 3} for name, _ in streams]
    results, isolated, errors = [], set(), []
    for start in range(0, len(files), 24):  # one process per quality: each well within the time limit
        out = _node({"mode": "decode", "runtime": args.runtime, "threads": THREADS, "precision": args.precision,
                     "dir": str(args.work), "files": files[start:start + 24]}, args.work)
        results += out["results"]
        isolated.add(out.get("cross_origin_isolated"))
        errors += out.get("errors", [])
    rows, by_quality = [], {}
    for (name, record), result in zip(streams, results, strict=True):
        pixels = record["width"] * record["height"]
        row = {"file": name, "symbols_equal": result["symbols"] == record["symbols"],
               "latents_equal": result["latents"] == record["latents"],
               "pixels_equal": result["pixels"] == record["pixels"],
               "differing_pixels": result["differing"], "max_difference": result["max"], "pixels": pixels,
               "histogram": result["histogram"], "bpp": round(8 * record["bytes"] / pixels, 4)}
        rows.append(row)
        q = name.split("-q")[1].split(".")[0]
        agg = by_quality.setdefault(q, {"files": 0, "symbols_equal": 0, "latents_equal": 0, "differing_pixels": 0,
                                        "pixels": 0, "max_difference": 0, "mean_bpp": 0.0})
        agg["files"] += 1
        agg["symbols_equal"] += row["symbols_equal"]
        agg["latents_equal"] += row["latents_equal"]
        agg["differing_pixels"] += row["differing_pixels"]
        agg["pixels"] += pixels
        agg["max_difference"] = max(agg["max_difference"], row["max_difference"])
        agg["mean_bpp"] += row["bpp"] / 24
    for agg in by_quality.values():
        agg["mean_bpp"] = round(agg["mean_bpp"], 4)
        agg["differing_fraction"] = agg["differing_pixels"] / agg["pixels"]
    summary = {"files": len(rows), "symbols_equal": sum(r["symbols_equal"] for r in rows),
               "latents_equal": sum(r["latents_equal"] for r in rows),
               "max_difference": max(r["max_difference"] for r in rows),
               "differing_pixels": sum(r["differing_pixels"] for r in rows), "pixels": sum(r["pixels"] for r in rows)}
    summary["differing_fraction"] = summary["differing_pixels"] / summary["pixels"]
    name = f"agreement_{args.runtime}{'_fp16' if args.precision == 'fp16' else ''}.json"
    _write(args.json or RESULTS / name, {
        "runtime": args.runtime, "precision": args.precision, "threads": THREADS, "saliency": "auto",
        "cross_origin_isolated": sorted(isolated, key=str), "summary": summary, "by_quality": by_quality,
        "files": rows, "page_errors": errors})


def _python_times(paths: list[Path]) -> dict:
    """Decode times of the Python decoder (THREADS threads) in this process: the first (model loading
    included) and each after a warm-up."""
    import sdpic

    datas = [p.read_bytes() for p in paths]
    t0 = time.perf_counter()
    sdpic.decompress(datas[0], threads=THREADS)
    cold = time.perf_counter() - t0
    times = []
    for data in datas:
        t0 = time.perf_counter()
        sdpic.decompress(data, threads=THREADS)
        times.append(time.perf_counter() - t0)
    return {"cold_s": cold, "warm_s": times}


def _python_photo_peak(path: Path) -> dict:
    code = ("import resource, sys, time, sdpic; d = open(sys.argv[1], 'rb').read(); t = time.perf_counter(); "
            f"sdpic.decompress(d, threads={THREADS}); s = time.perf_counter() - t; "
            "print(s, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True,
                         timeout=300)
    seconds, peak = map(float, out.stdout.split())
    return {"seconds_with_model_loading": seconds, "peak_rss_mb": peak}


def _summary(seconds: list[float]) -> dict:
    return {"mean_s": statistics.mean(seconds), "median_s": statistics.median(seconds), "min_s": min(seconds),
            "max_s": max(seconds), "n": len(seconds)}


def speed(args: argparse.Namespace) -> None:
    streams = kodak_streams(args.work, (50,))
    files = [{"name": name, "channels": 3} for name, _ in streams]
    report: dict = {"threads": THREADS, "machine": "2-core CPU shared with a training job and other work: times vary "
                    "by tens of percent between runs; the three decoders ran back to back in this order",
                    "load_average_before": _load()}
    python = _python_times([args.work / name for name, _ in streams])
    report["kodak_q50"] = {"python": {"cold_s": python["cold_s"], **_summary(python["warm_s"])}}
    for runtime in ("node", "chromium"):
        out = _node({"mode": "decode", "runtime": runtime, "threads": THREADS, "dir": str(args.work), "files": files},
                    args.work)
        seconds = [r["seconds"] for r in out["results"]]
        parts = {k: statistics.median(r["timings"][k] for r in out["results"][1:]) / 1000
                 for k in ("latents_ms", "synthesis_ms")}
        report["kodak_q50"][runtime] = {"cold_s": seconds[0], **_summary(seconds[1:]),
                                        "median_latents_s": parts["latents_ms"],
                                        "median_synthesis_s": parts["synthesis_ms"],
                                        "cross_origin_isolated": out.get("cross_origin_isolated")}
    report["load_average_after_kodak"] = _load()
    if PHOTO.is_file() and not args.skip_photo:
        name, record = _encode(args.work, PHOTO, 50, "photo-q50")
        photo = {"file": PHOTO.name, "width": record["width"], "height": record["height"],
                 "bytes": record["bytes"], "python": _python_photo_peak(args.work / name)}
        photo["python"]["warm_s"] = _python_times([args.work / name])["warm_s"][0]
        for runtime in ("node", "chromium"):
            out = _node({"mode": "decode", "runtime": runtime, "threads": THREADS, "dir": str(args.work),
                         "files": [{"name": name, "channels": 3}]}, args.work)
            result = out["results"][0]
            photo[runtime] = {"seconds": result["seconds"], "latents_s": result["timings"]["latents_ms"] / 1000,
                              "synthesis_s": result["timings"]["synthesis_ms"] / 1000,
                              "peak_rss_mb": out.get("peak_rss_mb", out.get("renderer_peak_rss_mb"))}
        report["photo_10_6_mp"] = photo
    report["load_average_after"] = _load()
    _write(args.json or RESULTS / "speed.json", report)


def threads(args: argparse.Namespace) -> None:
    """Node on the first Kodak q50 files with 1, 2 and again 1 thread: time and CPU seconds per wall second
    (above 1 only where a second core is free to take the second thread's share)."""
    streams = kodak_streams(args.work, (50,))[: args.files]
    files = [{"name": name, "channels": 3} for name, _ in streams]
    runs = []
    for count in (1, 2, 1, 2):
        out = _node({"mode": "decode", "runtime": "node", "threads": count, "dir": str(args.work), "files": files},
                    args.work)
        warm = out["results"][1:]
        runs.append({"threads": count, "median_s": statistics.median(r["seconds"] for r in warm),
                     "cpu_per_wall": sum(r["cpu_seconds"] for r in warm) / sum(r["seconds"] for r in warm),
                     "load_average": _load()})
    _write(args.json or RESULTS / "threads.json", {"files": len(files), "runs": runs})


def _alpha_streams(work: Path, images: int) -> list[tuple[str, dict, int]]:
    """sdpic files of ECSSD validation photos cut out with their masks (benchmarks/alpha_overhead.py's binary,
    soft and icon cut-outs, RGBA; the soft one also as grey + alpha), quality 50, the Python decoder's records
    and colour pixels (cached in ``work``): (file name, record, colour channels)."""
    import numpy as np
    from PIL import Image

    import sdpic
    from benchmarks.alpha_overhead import cutouts
    from sdpic.export.reference import decode_record, decoded_pixels

    if not (ECSSD / "masks").is_dir():
        raise SystemExit(f"ECSSD not found at {ECSSD} (set SDPIC_SHARED)")
    split = json.loads((ROOT / "src" / "sdpic" / "saliency" / "split.json").read_text())
    out = []
    work.mkdir(parents=True, exist_ok=True)
    for image_id in split["val"][:images]:
        kinds = cutouts(ECSSD, image_id)
        grey = np.asarray(Image.fromarray(kinds["soft"], "RGBA").convert("LA"))
        for kind, pixels, mode in (*((k, v, "RGBA") for k, v in kinds.items()), ("soft-grey", grey, "LA")):
            name = f"alpha-{image_id}-{kind}"
            stream, raw, meta = work / f"{name}.sdpic", work / f"{name}.raw", work / f"{name}.json"
            if not meta.is_file():
                data = sdpic.compress(Image.fromarray(pixels, mode), quality=50, threads=THREADS)
                stream.write_bytes(data)
                raw.write_bytes(decoded_pixels(data).tobytes())
                meta.write_text(json.dumps(decode_record(data)))
            out.append((stream.name, json.loads(meta.read_text()), 1 if mode == "LA" else 3))
    return out


def alpha(args: argparse.Namespace) -> None:
    """The alpha plane of real cut-outs through the JavaScript decoder (Node): bit-exact against Python's."""
    streams = _alpha_streams(args.work, args.images)
    files = [{"name": name, "reference": name.replace(".sdpic", ".raw"), "channels": channels}
             for name, _, channels in streams]
    out = _node({"mode": "decode", "runtime": "node", "threads": THREADS, "dir": str(args.work), "files": files},
                args.work)
    rows = []
    for (name, record, _), result in zip(streams, out["results"], strict=True):
        rows.append({"file": name, "mode": result["mode"], "python_mode": record["mode"],
                     "alpha_equal": record["alpha"] is not None and result["alpha"] == record["alpha"],
                     "symbols_equal": result["symbols"] == record["symbols"],
                     "differing_pixels": result["differing"], "max_difference": result["max"],
                     "pixels": record["width"] * record["height"], "bytes": record["bytes"],
                     "alpha_ms": result["timings"]["alpha_ms"]})
    summary = {"files": len(rows), "modes_equal": sum(r["mode"] == r["python_mode"] for r in rows),
               "alpha_equal": sum(r["alpha_equal"] for r in rows),
               "symbols_equal": sum(r["symbols_equal"] for r in rows),
               "max_difference": max(r["max_difference"] for r in rows),
               "differing_pixels": sum(r["differing_pixels"] for r in rows), "pixels": sum(r["pixels"] for r in rows),
               "median_alpha_ms": statistics.median(r["alpha_ms"] for r in rows[1:])}
    _write(args.json or RESULTS / "alpha.json", {
        "images": "ECSSD validation photos cut out with their masks (benchmarks/alpha_overhead.py: binary, soft, icon; "
                  "soft also as grey + alpha), quality 50", "runtime": "node", "summary": summary, "files": rows})


def realism(args: argparse.Namespace) -> None:
    """The realism decoder in Node against Python's (``sdpic.api.synthesise_pixels``) on Kodak q50 with saliency
    auto (a quality map, so the realism map varies): the test fixtures' realism decoder (``sdpic export
    fixtures``: the base g_s with a random realism encoder; no trained one ships yet), its bundle folder."""
    from sdpic import api
    from sdpic import format as fmt
    from sdpic.zoo import entry_by_name, load_realism_file

    models = FIXTURES / "realism-models"
    if not (models / "sdpic.json").is_file():
        raise SystemExit(f"no realism fixtures in {FIXTURES} (make web)")
    decoder = load_realism_file(models / "fixture-realism.safetensors", entry_by_name("sdpic").path)
    streams = kodak_streams(args.work, (50,))[: args.files]
    report: dict = {"decoder": "web/test/fixtures/realism-models (sdpic export fixtures)", "quality": 50,
                    "saliency": "auto", "values": {}}
    for value in args.values:
        files = []
        for name, _ in streams:
            data = (args.work / name).read_bytes()
            container = fmt.unpack(data)
            net, y_hat, q_levels = api.decode_latents(container, threads=THREADS)
            raw = args.work / name.replace(".sdpic", f".realism{value}.raw")
            raw.write_bytes(api.synthesise_pixels(container, net, y_hat, q_levels, value, threads=THREADS,
                                                  decoder=decoder).tobytes())
            files.append({"name": name, "reference": raw.name, "channels": 3})
        out = _node({"mode": "decode", "runtime": "node", "threads": THREADS, "realism": value, "models": str(models),
                     "dir": str(args.work), "files": files}, args.work)
        results = out["results"]
        report["values"][str(value)] = {
            "files": len(results), "max_difference": max(r["max"] for r in results),
            "differing_pixels": sum(r["differing"] for r in results),
            "pixels": sum(r["width"] * r["height"] for r in results),
            "median_s": statistics.median(r["seconds"] for r in results[1:])}
    _write(args.json or RESULTS / "realism.json", report)


def fuzz(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT))
    from benchmarks import fuzz_decoder as fz
    from sdpic.export.reference import decode_record

    seeds = fz.version_2_seed_streams() if args.version_2 else fz.seed_streams()
    tags = fz.VERSION_2_TAGS if args.version_2 else None
    cases = list(fz.structured_cases(seeds, random.Random(args.seed), args.random_rounds, tags))
    args.work.mkdir(parents=True, exist_ok=True)
    python, t0 = [], time.perf_counter()
    for _, _, data in cases:
        python.append(decode_record(data))
    python_s = time.perf_counter() - t0
    (args.work / "fuzz.json").write_text(json.dumps(
        [{"name": f"{phase}/{name}", "data": base64.b64encode(data).decode()} for phase, name, data in cases]))
    t0 = time.perf_counter()
    out = _node({"mode": "fuzz", "runtime": "node", "threads": 1, "dir": str(args.work), "cases": "fuzz.json"},
                args.work)
    js_s = time.perf_counter() - t0
    outcomes, agree, disagree, untyped = Counter(), 0, [], []
    slowest = max(out["results"], key=lambda r: r["seconds"])

    def same_image(py: dict, js: dict) -> bool:
        return js["symbols"] == py["symbols"] and js["alpha"] == py["alpha"] and js["mode"] == py["mode"]

    for (phase, name, _), py, js in zip(cases, python, out["results"], strict=True):
        same = js["outcome"] == py["outcome"] and (js["outcome"] != "image" or same_image(py, js))
        outcomes[js["outcome"]] += 1
        agree += same
        if js["outcome"].startswith("untyped"):
            untyped.append(f"{phase}/{name}: {js['outcome']}")
        elif not same:
            disagree.append(f"{phase}/{name}: js {js['outcome']}, python {py['outcome']}")
    images = [(py, js) for py, js in zip(python, out["results"], strict=True) if js["outcome"] == "image"]
    focus = " inside the version-2 sections (tags 5-8) only" if args.version_2 else ""
    _write(args.json or RESULTS / ("fuzz_version_2.json" if args.version_2 else "fuzz.json"), {
        "corpus": f"benchmarks/fuzz_decoder.py{' --version-2' if args.version_2 else ''} structured phase: truncation "
                  f"at every byte of its {len(seeds)} seed streams, every header field at boundary and random values, "
                  f"{args.random_rounds} rounds of bit flips (1/8/64, CRC kept and recomputed), section edits"
                  f"{focus} and random bytes",
        "seed_stream_bytes": [len(s) for s in seeds], "cases": len(cases), "js_outcomes": dict(outcomes.most_common()),
        "same_outcome_as_python": agree,
        "images_with_python_symbols": sum(js["symbols"] == py["symbols"] for py, js in images),
        "images_with_alpha_plane": sum(py.get("alpha") is not None for py, _ in images),
        "images_with_python_alpha_plane": sum(py.get("alpha") is not None and js["alpha"] == py["alpha"]
                                              for py, js in images),
        "untyped_exceptions": untyped, "disagreements": disagree[:50],
        "slowest_case_s": {"name": slowest["name"], "seconds": slowest["seconds"]},
        "js_total_s": js_s, "python_total_s": python_s, "peak_rss_mb": out["peak_rss_mb"],
        "hangs": 0, "note": "the JS run is one Node process with a 590 s limit; it finished every case"})


def sizes(args: argparse.Namespace) -> None:
    realism = FIXTURES / "realism-models"
    out = _node({"mode": "sizes", **({"realism_bundle": str(realism)} if (realism / "sdpic.json").is_file() else {})},
                args.work)
    files = out["files"]
    page = ["index.html", "style.css", "js/page.js", "js/sdpic.js", "js/ort-wasm-simd-threaded.wasm",
            "models/models.json", "models/sdpic.json", "models/sdpic.bin"]
    totals = {}
    for variant in ("fp32", "fp16"):
        onnx = "models/sdpic.synthesis.onnx" if variant == "fp32" else "models/sdpic.synthesis.fp16.onnx"
        totals[variant] = {k: sum(files[f][k] for f in [*page, onnx]) for k in ("bytes", "gzip", "brotli")}
    _write(args.json or RESULTS / "download.json", {
        "what": "what the page loads to decode a file of the default model (sdpic): the page, the decoder bundle, "
                "ONNX Runtime's WebAssembly, the model's manifest and tables, and one synthesis ONNX file; a file with "
                "an alpha plane also loads the WebP decoder's WebAssembly (js/webp_dec.wasm, libwebp from "
                "@jsquash/webp), and realism above 0 the realism decoder's ONNX file",
        "totals": totals, "files": files, "alpha_decoder": files["js/webp_dec.wasm"],
        "realism_onnx": out.get("realism_onnx"), "onnxruntime_web": out["onnxruntime_web"],
        "jsquash_webp": json.loads((WEB / "node_modules/@jsquash/webp/package.json").read_text())["version"]})


def _cutout_with_metadata(work: Path) -> str:
    """An ECSSD cut-out (soft edge, RGBA) with EXIF and XMP, quality 50: what the page shows of such a file."""
    from PIL import Image

    import sdpic
    from benchmarks.alpha_overhead import cutouts
    from tests.metadata_helpers import exif_bytes, xmp_bytes

    stream = work / "cutout-meta-q50.sdpic"
    if not stream.is_file():
        split = json.loads((ROOT / "src" / "sdpic" / "saliency" / "split.json").read_text())
        img = Image.fromarray(cutouts(ECSSD, split["val"][0])["soft"], "RGBA")
        img.info.update({"exif": exif_bytes(), "xmp": xmp_bytes()})
        work.mkdir(parents=True, exist_ok=True)
        stream.write_bytes(sdpic.compress(img, quality=50, threads=THREADS))
    return stream.name


def screenshot(args: argparse.Namespace) -> None:
    if args.source == "alpha":
        name, out_png, record = _cutout_with_metadata(args.work), args.out or RESULTS / "page_alpha.png", \
            "screenshot_alpha.json"
    else:
        name = _encode(args.work, KODAK / "kodim23.png", 50, "kodim23-q50")[0]
        out_png, record = args.out or RESULTS / "page.png", "screenshot.json"
    out = _node({"mode": "screenshot", "dir": str(args.work), "files": [{"name": name}], "out": str(out_png)},
                args.work)
    if out["state"] != "done":
        raise SystemExit(f"the page did not decode the file: {out}")
    _write(RESULTS / record, {"file": name, "shown": out["text"], "page_errors": out["errors"],
                              "screenshot": str(out_png.relative_to(ROOT))})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "web-bench")
    sub = parser.add_subparsers(dest="step", required=True)
    p = sub.add_parser("agreement")
    p.add_argument("--runtime", choices=["node", "chromium"], default="node")
    p.add_argument("--precision", choices=["fp32", "fp16"], default="fp32")
    p.add_argument("--json", type=Path, default=None)
    p.set_defaults(func=agreement)
    p = sub.add_parser("speed")
    p.add_argument("--skip-photo", action="store_true")
    p.add_argument("--json", type=Path, default=None)
    p.set_defaults(func=speed)
    p = sub.add_parser("threads")
    p.add_argument("--files", type=int, default=7)
    p.add_argument("--json", type=Path, default=None)
    p.set_defaults(func=threads)
    p = sub.add_parser("alpha")
    p.add_argument("--images", type=int, default=6, help="first N ECSSD validation ids (4 files each)")
    p.add_argument("--json", type=Path, default=None)
    p.set_defaults(func=alpha)
    p = sub.add_parser("realism")
    p.add_argument("--files", type=int, default=8, help="the first N Kodak images")
    p.add_argument("--values", type=float, nargs="+", default=[0.5, 1.0])
    p.add_argument("--json", type=Path, default=None)
    p.set_defaults(func=realism)
    p = sub.add_parser("fuzz")
    p.add_argument("--version-2", action="store_true",
                   help="the version-2 seeds only, section edits inside the version-2 sections")
    p.add_argument("--random-rounds", type=int, default=400)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--json", type=Path, default=None)
    p.set_defaults(func=fuzz)
    p = sub.add_parser("sizes")
    p.add_argument("--json", type=Path, default=None)
    p.set_defaults(func=sizes)
    p = sub.add_parser("screenshot")
    p.add_argument("--source", choices=["kodak", "alpha"], default="kodak",
                   help="kodak: kodim23 (page.png); alpha: an ECSSD cut-out with EXIF and XMP (page_alpha.png)")
    p.add_argument("--out", type=Path, default=None)
    p.set_defaults(func=screenshot)
    p = sub.add_parser("readme")
    p.set_defaults(func=lambda a: readme())
    args = parser.parse_args()
    args.work = args.work.resolve()
    args.func(args)
    return 0


def _json(name: str, results: Path = RESULTS) -> dict | None:
    path = results / name
    return json.loads(path.read_text()) if path.is_file() else None


def _mb(n: float) -> str:
    return f"{n / 1e6:.2f} MB"


def _summary_lines(results: Path) -> list[str]:
    lines = []
    for label, name in (("Node", "agreement_node.json"), ("Chromium", "agreement_chromium.json")):
        a = _json(name, results)
        if a:
            s = a["summary"]
            lines.append(f"- {label}: symbols identical on {s['symbols_equal']} of {s['files']} Kodak files, ŷ on "
                         f"{s['latents_equal']}; pixels within {s['max_difference']} level, {s['differing_pixels']:,} "
                         f"of {s['pixels']:,} differ ({100 * s['differing_fraction']:.4f}%).")
    speed = _json("speed.json", results)
    if speed:
        k = speed["kodak_q50"]
        target = "met" if k["chromium"]["median_s"] <= 1.0 else "not met here"
        share = 100 * k["chromium"]["median_synthesis_s"] / k["chromium"]["median_s"]
        lines.append(f"- Kodak decode, median: Chromium {k['chromium']['median_s']:.2f} s (target ≤ 1 s: {target}), "
                     f"Node {k['node']['median_s']:.2f} s, Python {k['python']['median_s']:.2f} s in the same run "
                     f"(load average ~{speed['load_average_before'][0]:.0f} on 2 cores); the synthesis transform on "
                     f"ONNX Runtime's WebAssembly is {share:.0f}% of the JavaScript time.")
        photo = speed.get("photo_10_6_mp")
        if photo:
            c, n, p = photo["chromium"], photo["node"], photo["python"]
            lines.append(f"- 10.6 MP photo: Chromium {c['seconds']:.0f} s, Node {n['seconds']:.0f} s, Python "
                         f"{p['warm_s']:.0f} s; peak memory {c['peak_rss_mb']:.0f} MB (Chromium renderer), "
                         f"{n['peak_rss_mb']:.0f} MB (Node), {p['peak_rss_mb']:.0f} MB (Python).")
    rz = _json("realism.json", results)
    if rz:
        parts = ", ".join(f"realism {v}: within {r['max_difference']} level, {r['differing_pixels']:,} of "
                          f"{r['pixels']:,} differ" for v, r in rz["values"].items())
        lines.append(f"- Realism decoder (a test one, Kodak q50, Node) against Python's: {parts}.")
    al = _json("alpha.json", results)
    if al:
        s = al["summary"]
        lines.append(f"- Alpha planes (ECSSD cut-outs, RGBA and LA, Node): {s['alpha_equal']} of {s['files']} "
                     f"bit-exact, modes {s['modes_equal']} of {s['files']}; colour within {s['max_difference']} level.")
    for name, label in (("fuzz.json", "Fuzz corpus"), ("fuzz_version_2.json", "Fuzz corpus of the version-2 sections")):
        fz = _json(name, results)
        if fz:
            alpha = (f", {fz['images_with_python_alpha_plane']:,} of {fz['images_with_alpha_plane']:,} decoded alpha "
                     "planes bit-exact" if "images_with_alpha_plane" in fz else "")
            lines.append(f"- {label}: {fz['cases']:,} cases, {fz['same_outcome_as_python']:,} with the Python "
                         f"decoder's outcome{alpha}, {len(fz['untyped_exceptions'])} untyped exceptions, "
                         f"{fz['hangs']} hangs.")
    dl = _json("download.json", results)
    if dl:
        t = dl["totals"]
        alpha = (f"; files with an alpha plane also load libwebp's decoder, {_mb(dl['alpha_decoder']['brotli'])}"
                 if dl.get("alpha_decoder") else "")
        lines.append(f"- A page downloads {_mb(t['fp32']['brotli'])} (brotli; {_mb(t['fp32']['bytes'])} raw) with fp32 "
                     f"weights, {_mb(t['fp16']['brotli'])} ({_mb(t['fp16']['bytes'])}) with fp16{alpha}.")
    return [*lines, ""] if lines else []


def render(results: Path = RESULTS) -> str:
    """results/web/README.md from the JSON files of the steps in ``results`` (each table names its command)."""
    out = ["# The JavaScript decoder (web/) against the Python decoder", "",
           "Generated by `.venv/bin/python benchmarks/web_decoder.py readme` from the JSON files here; each section "
           "names the command that measured it. The machine: 2 CPU cores shared with a training job and other "
           "engineers' work, so times vary between runs by tens of percent; Python and JavaScript were timed in the "
           "same run, back to back.", ""]
    out += _summary_lines(results)
    rows = [(f"agreement_{r}.json", r) for r in ("node", "chromium", "node_fp16")]
    found = [(name, label, data) for name, label in rows if (data := _json(name, results))]
    if found:
        out += ["## Symbols and pixels: Kodak 24 at qualities 10 / 50 / 90, `--saliency auto`", "",
                "Symbols: the quality levels, ẑ and both passes' residuals; latents: ŷ as g_s receives it (float32). "
                "Both compared by SHA-256 with `sdpic export reference`'s hashes of the same file. Pixels: against "
                "the Python decoder's (`sdpic.decompress`), any channel.", "",
                "| decoder | quality | files | symbols identical | ŷ identical | differing pixels | of all | max |",
                "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for _, label, data in found:
            name = {"node": "Node", "chromium": "Chromium (headless)", "node_fp16": "Node, fp16 weights"}[label]
            for q, agg in sorted(data["by_quality"].items(), key=lambda kv: int(kv[0])):
                out.append(f"| {name} | {q} (mean {agg['mean_bpp']:.3f} bpp) | {agg['files']} | "
                           f"{agg['symbols_equal']} | {agg['latents_equal']} | {agg['differing_pixels']:,} | "
                           f"{100 * agg['differing_fraction']:.4f}% | {agg['max_difference']} |")
        out += [""] + [f"- {label}: `{data['command']}` ({data['date']})" for _, label, data in found] + [""]
    speed = _json("speed.json", results)
    if speed:
        k = speed["kodak_q50"]
        out += ["## Decode time, 2 threads", "",
                "Kodak 24 at quality 50 (`--saliency auto`, 768x512): per image, after the first (which also loads "
                "the model: the *first* column). JavaScript: Node and headless Chromium (cross-origin isolated: "
                "WebAssembly threads), the same code; the split is entropy decoding with the exact networks "
                "(latents) and the synthesis transform.", "",
                "| decoder | first | median | mean | min | max | latents (median) | synthesis (median) |",
                "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for key, name in (("python", "Python (`sdpic.decompress`)"), ("node", "Node"), ("chromium", "Chromium")):
            r = k[key]
            extra = (f"{r['median_latents_s']:.3f} s | {r['median_synthesis_s']:.3f} s" if "median_latents_s" in r
                     else "— | —")
            out.append(f"| {name} | {r['cold_s']:.3f} s | {r['median_s']:.3f} s | {r['mean_s']:.3f} s | "
                       f"{r['min_s']:.3f} s | {r['max_s']:.3f} s | {extra} |")
        photo = speed.get("photo_10_6_mp")
        if photo:
            py = photo["python"]
            out += ["", f"The 10.6 MP photo ({photo['file']}, {photo['width']}x{photo['height']}, quality 50, "
                    f"{photo['bytes']:,} bytes), one decode each in a fresh process (model loading included):", "",
                    "| decoder | time | latents | synthesis | peak memory |", "|---|---:|---:|---:|---:|",
                    f"| Python | {py['seconds_with_model_loading']:.2f} s (warm {py['warm_s']:.2f} s) | — | — | "
                    f"{py['peak_rss_mb']:.0f} MB (process RSS) |"]
            for key, name, what in (("node", "Node", "process RSS"), ("chromium", "Chromium", "renderer RSS")):
                r = photo[key]
                out.append(f"| {name} | {r['seconds']:.2f} s | {r['latents_s']:.2f} s | {r['synthesis_s']:.2f} s | "
                           f"{r['peak_rss_mb']:.0f} MB ({what}) |")
        out += ["", f"Load average (1/5/15 min) before: {speed['load_average_before']}, after: "
                f"{speed['load_average_after']}.", "", f"`{speed['command']}` ({speed['date']})", ""]
    th = _json("threads.json", results)
    if th:
        runs = ", ".join(f"{r['threads']} thread{'s' if r['threads'] > 1 else ''} {r['median_s']:.2f} s "
                         f"({r['cpu_per_wall']:.2f} CPU s per s)" for r in th["runs"])
        out += ["## One thread or two (Node)", "",
                f"Kodak q50, the first {th['files']} files, median of all but the first, alternating runs: {runs}. "
                "Two WebAssembly threads help only where a second core is free: on this shared machine the CPU "
                "seconds per wall second stayed near one, so the second thread mostly waited.", "",
                f"`{th['command']}` ({th['date']})", ""]
    al = _json("alpha.json", results)
    if al:
        s = al["summary"]
        out += ["## Alpha planes", "", al["images"] + ", through the JavaScript decoder in Node (libwebp's "
                "WebAssembly decoder, @jsquash/webp) against the Python decoder (libwebp through Pillow).", "",
                f"- alpha plane identical (SHA-256): {s['alpha_equal']} of {s['files']} files; decoded mode "
                f"(RGBA / LA) as Python's: {s['modes_equal']}; symbols identical: {s['symbols_equal']}",
                f"- colour: within {s['max_difference']} level, {s['differing_pixels']:,} of {s['pixels']:,} pixels "
                f"differ; the alpha plane's decode: {s['median_alpha_ms']:.1f} ms (median)", "",
                f"`{al['command']}` ({al['date']})", ""]
    rz = _json("realism.json", results)
    if rz:
        count = next(iter(rz["values"].values()))["files"]
        out += ["## The realism decoder", "",
                f"Kodak q50 (`--saliency auto`), the first {count} images, through the JavaScript decoder in Node "
                "with the realism map it computes, against the Python decoder "
                "(`sdpic.api.synthesise_pixels`) with the same realism decoder: the test fixtures' (the base g_s "
                "with a random realism encoder; no trained realism decoder ships yet).", "",
                "| realism | files | differing pixels | of all | max | median decode |",
                "|---:|---:|---:|---:|---:|---:|"]
        for value, r in rz["values"].items():
            share = 100 * r["differing_pixels"] / r["pixels"]
            out.append(f"| {value} | {r['files']} | {r['differing_pixels']:,} | {share:.4f}% | {r['max_difference']} | "
                       f"{r['median_s']:.2f} s |")
        out += ["", f"`{rz['command']}` ({rz['date']})", ""]
    for name, title in (("fuzz.json", "Fuzz corpus through the JavaScript decoder (Node)"),
                        ("fuzz_version_2.json", "Fuzz corpus of the version-2 sections (Node)")):
        fz = _json(name, results)
        if not fz:
            continue
        outcomes = ", ".join(f"{k} {v:,}" for k, v in fz["js_outcomes"].items())
        alpha = (f"; of the {fz['images_with_alpha_plane']:,} images with an alpha plane, "
                 f"{fz['images_with_python_alpha_plane']:,} have Python's (SHA-256)" if "images_with_alpha_plane" in fz
                 else "")
        out += [f"## {title}", "", fz["corpus"] + ".", "",
                f"- cases: {fz['cases']:,}; outcomes: {outcomes}",
                f"- the Python decoder's outcome (same error class; for images the same symbol hash, and alpha plane "
                f"and mode): {fz['same_outcome_as_python']:,} of {fz['cases']:,}{alpha}",
                f"- untyped exceptions: {len(fz['untyped_exceptions'])}; hangs: {fz['hangs']} (every case finished; "
                f"slowest {fz['slowest_case_s']['seconds']:.3f} s, {fz['slowest_case_s']['name']})",
                f"- whole corpus: JavaScript {fz['js_total_s']:.0f} s, Python {fz['python_total_s']:.0f} s; "
                f"peak memory (Node) {fz['peak_rss_mb']:.0f} MB", "", f"`{fz['command']}` ({fz['date']})", ""]
    dl = _json("download.json", results)
    if dl:
        out += ["## Download size", "", dl["what"] + f" (onnxruntime-web {dl['onnxruntime_web']}).", "",
                "| weights | bytes | gzip -9 | brotli -11 |", "|---|---:|---:|---:|"]
        for variant, t in dl["totals"].items():
            out.append(f"| {variant} | {_mb(t['bytes'])} | {_mb(t['gzip'])} | {_mb(t['brotli'])} |")
        out += ["", "| file | bytes | gzip | brotli |", "|---|---:|---:|---:|"]
        for name, f in dl["files"].items():
            if "sdpic-mse" not in name:
                out.append(f"| `{name}` | {f['bytes']:,} | {f['gzip']:,} | {f['brotli']:,} |")
        extra = []
        if dl.get("alpha_decoder"):
            a = dl["alpha_decoder"]
            extra.append(f"A file with an alpha plane also loads `js/webp_dec.wasm` (libwebp's decoder from "
                         f"@jsquash/webp {dl['jsquash_webp']}), once: {a['bytes']:,} bytes, {a['gzip']:,} gzip, "
                         f"{a['brotli']:,} brotli.")
        if dl.get("realism_onnx"):
            r = dl["realism_onnx"]
            extra.append(f"A realism decoder (measured on the test fixtures' one: the same architecture) adds one "
                         f"ONNX file, loaded at realism above 0: {r['bytes']:,} bytes, {r['brotli']:,} brotli (fp32).")
        out += ["", *(f"{line}\n" for line in extra),
                "fp16: the synthesis weights stored as float16 (computed in float32): pixels stay within one "
                "level of the Python decoder's, on more pixels (the fp16 row of the first table, where measured).", "",
                f"`{dl['command']}` ({dl['date']})", ""]
    shots = [(shot, png) for name, png in (("screenshot.json", "page.png"), ("screenshot_alpha.json", "page_alpha.png"))
             if (shot := _json(name, results))]
    if shots:
        out += ["## The page", ""]
    for shot, png in shots:
        shown = shot["shown"]
        carries = f", carrying {shown['carries']}" if shown.get("carries") else ""
        out += [f"![the page with {shot['file']} decoded]({png})", "",
                f"{shot['file']} dropped on the page (headless Chromium, 1180 px wide): {shown['dims']}, "
                f"{shown['bpp']} bpp{carries}, decoded in {shown['time']} ({shown['runtime']}).", "",
                f"`{shot['command']}` ({shot['date']})", ""]
    return "\n".join(out)


def readme() -> None:
    (RESULTS / "README.md").write_text(render())
    print(f"wrote {RESULTS / 'README.md'}")


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    sys.path.insert(0, str(ROOT))
    sys.exit(main())

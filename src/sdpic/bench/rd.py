"""The rate-distortion runner behind ``sdpic bench rd``: every codec x setting x image, timed and measured.

Work is split by image over a process pool (each worker loads its own metric models once), every
encoded stream is cached (see :mod:`sdpic.bench.cache`), and the result is one JSON document in the
schema the plots, tables and the project README read::

    {"dataset", "images", "reference": "avif",
     "codecs": {NAME: {"version", "config", "options", "points": [{"setting", "bpp", "psnr", "ms_ssim",
                                               "lpips_alex", "lpips_vgg", "dists", "psnr_salient",
                                               "encode_s", "decode_s"}]}},
     "bd_rate": {METRIC: {NAME: percent}}}

``lpips_alex`` / ``lpips_vgg`` / ``dists`` are the human-calibrated distances of :mod:`sdpic.metric`
(lower is better; the perceptual model trains on LPIPS-Alex, so LPIPS-VGG and DISTS are the held-out ones).

``config`` is the encoder option string of the cache key; ``options`` the same options as fields (for the
sdpic codecs ``{"saliency", "roi_strength"}``, empty for the baselines). Plus informative extras (per-image
points, metric sources, skipped codecs with reasons, run settings).
bpp is always measured from the real encoded bytes.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..errors import InputImageError, ParameterError
from ..nets.memory import reuse_freed_memory
from .bdrate import bd_rate_table
from .cache import EncodeCache, image_digest
from .codecs import Codec, SdpicOptions, resolve_codecs
from .metrics import (
    METRIC_BATCH,
    QUALITY_METRICS,
    MetricSuite,
    ground_truth_mask,
    learned_saliency_mask,
    metrics_signature,
)

REFERENCE = "avif"
POINT_KEYS = ("setting", "bpp", *QUALITY_METRICS, "encode_s", "decode_s")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".ppm", ".bmp", ".tif", ".tiff", ".webp")


def list_images(folder: str | os.PathLike, limit: int | None = None) -> list[Path]:
    """Image files in ``folder`` (sorted by name), optionally only the first ``limit``."""
    root = Path(folder)
    if not root.is_dir():
        raise InputImageError(f"{root}: not a directory of images")
    files = sorted(p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise InputImageError(f"{root}: no images ({', '.join(IMAGE_SUFFIXES)})")
    return files[:limit] if limit else files


def find_mask(masks_dir: Path, image: Path) -> Path | None:
    """Ground-truth mask for ``image``: same stem, any image suffix."""
    for suffix in (".png", *IMAGE_SUFFIXES):
        cand = masks_dir / f"{image.stem}{suffix}"
        if cand.is_file():
            return cand
    return None


@dataclass
class RDConfig:
    """Everything a worker needs to process one image (picklable, so it crosses process boundaries)."""

    codec_names: list[str]
    threads: int = 2
    cache_dir: str | None = None
    masks_dir: str | None = None
    sdpic: SdpicOptions = field(default_factory=SdpicOptions)
    want_perceptual: bool = True
    settings: dict[str, list[float]] = field(default_factory=dict)
    #: torch threads for the metrics: the cores divided among the workers (more only adds contention)
    metric_threads: int = 1


# ---------------------------------------------------------------- worker side

_WORKER: dict[str, Any] = {}


def _worker_state(cfg: RDConfig) -> dict[str, Any]:
    """Per-process codecs and metric models, created once per config (loading a network per image would dominate)."""
    key = (tuple(cfg.codec_names), cfg.threads, cfg.cache_dir, cfg.sdpic, cfg.want_perceptual,
           cfg.metric_threads)
    if _WORKER.get("key") != key:
        reuse_freed_memory()
        try:
            import torch

            torch.set_num_threads(cfg.threads)
        except ImportError:
            pass
        codecs = {c.name: c for c in resolve_codecs(cfg.codec_names, cfg.threads, cfg.sdpic)}
        _WORKER.clear()
        _WORKER.update(
            key=key,
            codecs=codecs,
            suite=MetricSuite(want_perceptual=cfg.want_perceptual, threads=cfg.metric_threads),
            cache=EncodeCache(Path(cfg.cache_dir) if cfg.cache_dir else None),
            signature=metrics_signature(),
        )
    return _WORKER


def process_image(path: str, cfg: RDConfig) -> dict[str, Any]:
    """All codecs x settings for one image: ``{"image", "pixels", "mask", "codecs": {name: [point, ...]}}``."""
    from ..image_io import load_image

    state = _worker_state(cfg)
    suite: MetricSuite = state["suite"]
    cache: EncodeCache = state["cache"]
    rgb = load_image(path).rgb
    h, w = rgb.shape[:2]
    digest = image_digest(rgb)
    mask_src: str
    mask: np.ndarray | None
    if cfg.masks_dir:
        mpath = find_mask(Path(cfg.masks_dir), Path(path))
        if mpath is None:
            mask, mask_src = None, f"null: no mask for {Path(path).name} in {cfg.masks_dir}"
        else:
            mask, mask_src = ground_truth_mask(mpath, w, h), f"ground truth {mpath.name}"
    else:
        mask, mask_src = learned_saliency_mask(rgb)
    sig = f"{state['signature']}|{mask_src}|perceptual={cfg.want_perceptual}"
    result: dict[str, Any] = {"image": Path(path).name, "pixels": h * w, "mask": mask_src, "codecs": {}}
    for name in cfg.codec_names:
        codec: Codec | None = state["codecs"].get(name)
        if codec is None or not codec.is_available():
            continue
        try:
            settings = [codec.normalise_setting(s) for s in cfg.settings.get(name, codec.settings)]
            result["codecs"][name] = _measure_sweep(codec, rgb, digest, settings, mask, suite, cache, sig)
        except Exception as exc:  # one broken codec must not sink the other codecs' results
            result.setdefault("errors", {})[name] = f"{type(exc).__name__}: {exc}"
    result["sources"] = dict(suite.sources)
    return result


def _measure_sweep(
    codec: Codec,
    rgb: np.ndarray,
    digest: str,
    settings: list[float | int],
    mask: np.ndarray | None,
    suite: MetricSuite,
    cache: EncodeCache,
    sig: str,
) -> list[dict[str, Any]]:
    """Encode (or fetch) every setting, then decode and measure the uncached ones in batches."""
    key = codec.key()
    pixels = rgb.shape[0] * rgb.shape[1]
    entries = []
    for setting in settings:
        data, meta = cache.load(codec.name, key, digest, setting)
        if data is None:
            t0 = time.perf_counter()
            data = codec.encode(rgb, setting)
            meta = {"encode_s": time.perf_counter() - t0}
            cache.store(codec.name, key, digest, setting, data, meta)
        entries.append([setting, data, meta])
    todo = [e for e in entries if e[2].get("metrics", {}).get(sig) is None]
    for start in range(0, len(todo), METRIC_BATCH):
        chunk = todo[start : start + METRIC_BATCH]
        decoded, times = [], []
        for _, data, _ in chunk:
            t0 = time.perf_counter()
            out = codec.decode(data)
            times.append(time.perf_counter() - t0)
            if out.shape != rgb.shape:
                raise InputImageError(f"{codec.name} decoded {out.shape}, expected {rgb.shape}")
            decoded.append(out)
        values = suite.compute_batch(rgb, decoded, mask, ref_key=digest)
        for entry, vals, dt in zip(chunk, values, times, strict=True):
            setting, data, meta = entry
            meta = {**meta, "metrics": {**meta.get("metrics", {}), sig: {**vals, "decode_s": dt}}}
            entry[2] = meta
            cache.store(codec.name, key, digest, setting, data, meta, stream=False)
    points = []
    for setting, data, meta in entries:
        cached = meta["metrics"][sig]
        point: dict[str, Any] = {"setting": setting, "bpp": len(data) * 8.0 / pixels}
        point.update({k: cached.get(k) for k in QUALITY_METRICS})
        point["encode_s"] = meta.get("encode_s")
        point["decode_s"] = cached.get("decode_s")
        points.append(point)
    return points


def _pool_init() -> None:
    _WORKER.clear()


# ---------------------------------------------------------------- parent side


def _mean(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return float(np.mean(vals)) if vals else None


def aggregate(per_image: list[dict[str, Any]], codec: str) -> list[dict[str, Any]]:
    """Average each setting's points over images (None where no image had the value)."""
    rows = [r["codecs"][codec] for r in per_image if codec in r["codecs"]]
    if not rows:
        return []
    points = []
    for i, first in enumerate(rows[0]):
        group = [row[i] for row in rows]
        point: dict[str, Any] = {"setting": first["setting"]}
        for k in POINT_KEYS[1:]:
            point[k] = _mean([p.get(k) for p in group])
        points.append(point)
    return points


def add_bd_rates(doc: dict[str, Any]) -> None:
    """(Re)compute ``doc["bd_rate"]`` from the averaged points of every codec, against ``doc["reference"]``."""
    reference = doc["reference"]
    curves = {
        name: {k: [p.get(k) for p in entry["points"]] for k in ("bpp", *QUALITY_METRICS)}
        for name, entry in doc["codecs"].items()
        if entry["points"]
    }
    doc["bd_rate"] = bd_rate_table(curves, reference, QUALITY_METRICS)
    doc.pop("bd_rate_note", None)
    if reference not in curves:
        doc["bd_rate_note"] = f"reference codec {reference!r} did not run; BD-rates are null"


def bd_rates_against(doc: dict[str, Any], codec: str, reference: str) -> dict[str, float | None]:
    """BD-rates (%) of ``codec`` against ``reference`` per metric, recomputed from the averaged points of
    the two (the JSON stores BD-rates against its own reference only); ``doc`` is left as it was."""
    for name in (codec, reference):
        if not doc["codecs"].get(name, {}).get("points"):
            raise ParameterError(f"no measured points for {name!r} in the RD results")
    # Only the two curves: add_bd_rates fits every codec it is given, and writes view["bd_rate"] only.
    view = {"reference": reference, "codecs": {name: doc["codecs"][name] for name in (codec, reference)}}
    add_bd_rates(view)
    return {metric: values.get(codec) for metric, values in view["bd_rate"].items()}


def outdated_columns(doc: dict[str, Any]) -> str | None:
    """Why the points of an RD document are not in today's quality columns (None when they are).

    Documents written before the metric change have ``percep`` / ``percep_eval`` (uncalibrated distances
    that no longer exist) instead of ``lpips_alex`` / ``lpips_vgg`` / ``dists``: their BD-rates cannot be
    compared with new rows, only regenerated. Told apart by the columns the bench does not know; a point
    that simply lacks some columns (a hand-made or partial document) is not outdated.
    """
    keys = {k for entry in doc.get("codecs", {}).values() for p in entry.get("points", []) for k in p}
    unknown = sorted(keys - set(POINT_KEYS))
    if not unknown:
        return None
    missing = [m for m in QUALITY_METRICS if m not in keys]
    instead = f", and not {', '.join(missing)}" if missing else ""
    return (f"its points have {', '.join(unknown)}, which the bench no longer measures{instead}: "
            "written by an older bench, rerun every codec")


def merge_results(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``base`` with the codecs of ``update`` replaced (or added), BD-rates recomputed.

    For rerunning some rows only (e.g. ``sdpic`` after new weights) without recomputing the others. Both runs
    must cover the same images with the same metric definitions, else the table would mix incomparable rows.
    """
    for key in ("dataset", "images", "reference"):
        if base.get(key) != update.get(key):
            raise ParameterError(f"cannot merge: {key} differs ({base.get(key)!r} vs {update.get(key)!r})")
    outdated = outdated_columns(base)
    if outdated:
        raise ParameterError(f"cannot merge into the earlier JSON: {outdated}, without --update")
    sources = base.get("metric_sources"), update.get("metric_sources")
    if all(sources) and sources[0] != sources[1]:
        raise ParameterError("cannot merge: the metrics were computed differently (metric_sources differ)")
    base_images = {img for e in base["codecs"].values() for img in e.get("per_image", {})}
    new_images = {img for e in update["codecs"].values() for img in e.get("per_image", {})}
    if base_images and new_images and base_images != new_images:
        raise ParameterError("cannot merge: the two runs used different images")
    doc = replace_codec_rows(base, update)
    add_bd_rates(doc)
    return doc


def replace_codec_rows(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``base`` (an RD or task JSON) with ``update``'s codec rows and skips in place of its own, and
    the rerun recorded under ``updates``; the callers check first that the two runs are comparable."""
    doc = dict(base)
    doc["codecs"] = {**base["codecs"], **update["codecs"]}
    doc["skipped"] = {k: v for k, v in base.get("skipped", {}).items() if k not in update["codecs"]}
    doc["skipped"].update(update.get("skipped", {}))
    doc["updates"] = [*base.get("updates", []), {"codecs": sorted(update["codecs"]), "run": update.get("run")}]
    return doc


def run_rd(
    images: Sequence[Path],
    codec_names: Sequence[str] | None = None,
    *,
    workers: int = 2,
    threads: int = 2,
    cache_dir: Path | None = None,
    masks_dir: Path | None = None,
    dataset: str | None = None,
    reference: str = REFERENCE,
    sdpic: SdpicOptions = SdpicOptions(),
    want_perceptual: bool = True,
    settings: dict[str, list[float]] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the RD benchmark and return the JSON document (see the module docstring)."""
    if workers < 1 or threads < 1:
        raise ParameterError("--workers and --threads must be at least 1")
    if masks_dir is not None and not Path(masks_dir).is_dir():
        raise ParameterError(f"{masks_dir}: masks folder does not exist")
    codecs = resolve_codecs(codec_names, threads, sdpic)
    skipped: dict[str, str] = {}
    runnable: list[Codec] = []
    for c in codecs:
        avail = c.is_available()
        if avail:
            runnable.append(c)
        else:
            skipped[c.name] = avail.reason or "unavailable"
    cfg = RDConfig(
        codec_names=[c.name for c in runnable],
        threads=threads,
        cache_dir=str(cache_dir) if cache_dir else None,
        masks_dir=str(masks_dir) if masks_dir else None,
        sdpic=sdpic,
        want_perceptual=want_perceptual,
        settings={k: list(v) for k, v in (settings or {}).items()},
        metric_threads=max(1, (os.cpu_count() or 1) // min(workers, max(1, len(images)))),
    )
    started = time.perf_counter()
    per_image: list[dict[str, Any]] = []
    paths = [str(p) for p in images]
    bar = tqdm(total=len(paths), desc="bench rd", unit="img", disable=not progress)
    if workers == 1 or len(paths) == 1:
        for p in paths:
            per_image.append(process_image(p, cfg))
            bar.update(1)
    else:
        ctx = multiprocessing.get_context("spawn")  # torch + fork is fragile; spawn is safe everywhere
        with cf.ProcessPoolExecutor(max_workers=min(workers, len(paths)), mp_context=ctx, initializer=_pool_init) as ex:
            futures = {ex.submit(process_image, p, cfg): p for p in paths}
            for fut in cf.as_completed(futures):
                per_image.append(fut.result())
                bar.update(1)
    bar.close()
    per_image.sort(key=lambda r: r["image"])
    elapsed = time.perf_counter() - started

    doc: dict[str, Any] = {
        "dataset": dataset or (Path(images[0]).parent.name if images else ""),
        "images": len(per_image),
        "reference": reference,
        "codecs": {},
        "bd_rate": {},
    }
    for r in per_image:
        for name, err in r.get("errors", {}).items():
            skipped.setdefault(name, f"failed on {r['image']}: {err}")
    for c in codecs:
        if c.name in skipped:
            doc["codecs"][c.name] = {"version": c.version(), "skipped": skipped[c.name], "points": []}
            continue
        doc["codecs"][c.name] = {
            "version": c.version(),
            "config": c.config,
            "options": c.record(),
            "points": aggregate(per_image, c.name),
            "per_image": {r["image"]: r["codecs"].get(c.name, []) for r in per_image},
        }
    add_bd_rates(doc)
    sources = per_image[0].get("sources", {}) if per_image else {}
    doc["metric_sources"] = sources
    doc["saliency_masks"] = sorted({r["mask"] for r in per_image})
    doc["skipped"] = skipped
    doc["run"] = {
        "workers": workers,
        "threads_per_codec": threads,
        "wall_s": round(elapsed, 1),
        "cpu_count": os.cpu_count(),
        "machine": platform.platform(),
        "python": platform.python_version(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "timing_note": "encode_s/decode_s are wall times per image; cached streams keep the encode time of the run "
        "that produced them; with workers > 1 concurrent codecs share the cores",
    }
    return doc

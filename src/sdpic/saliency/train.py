"""Training the learned saliency model on the ECSSD train split (``sdpic saliency train``).

Design choices, all driven by training on a shared CPU in well under an hour:

* The first MobileNetV2 stages (``features[0:7]``, strides 2-8) are frozen at their ImageNet values;
  their outputs for ``views`` differently augmented copies of every training image are computed lazily
  the first time each view is needed and kept in a memory-mapped cache under ``--run-dir``. Later epochs
  cycle through the cached views, so the frozen part is paid ``views`` times, not once per epoch.
* Augmentations (random crop of 70-100 % of each side, horizontal flip, brightness / contrast /
  saturation jitter, occasional greyscale) are applied to the image before the frozen stages, so the
  cache holds properly augmented features.
* Backbone BatchNorm statistics stay frozen (batches are small); the decoder's BN trains normally.
* Loss: BCE + soft IoU on the fused map and every side output (deep supervision, weight 0.4 for sides).
* Checkpoints after every epoch (``ckpt.pt`` in ``--run-dir``; rerun the same command to resume).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..errors import ParameterError
from .data import resolve_ecssd_dir, split_paths
from .learned import IMAGENET_MEAN, IMAGENET_STD, SaliencyNet
from .mobilenet import load_imagenet_weights

#: ``features[:FROZEN]`` are frozen and cached; features[FROZEN-1] is the stride-8 tap.
FROZEN = 7


@dataclass
class TrainConfig:
    """Everything that defines a training run (stored in the checkpoint and the model card)."""

    data: str = ""
    run_dir: str = "runs/saliency"
    out: str = ""
    epochs: int = 18
    views: int = 8
    batch: int = 8
    size: int = 288
    lr_decoder: float = 2e-3
    lr_backbone: float = 2e-4
    weight_decay: float = 1e-4
    warmup: int = 150
    seed: int = 0
    threads: int = 1
    limit: int = 0  # use only the first N training images (smoke tests)


def _load_pairs(root: Path, subset: str, limit: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    pairs = split_paths(root, subset)
    if limit:
        pairs = pairs[:limit]
    images, masks = [], []
    for img_path, mask_path in pairs:
        images.append(np.asarray(Image.open(img_path).convert("RGB"), dtype=np.uint8))
        masks.append(np.asarray(Image.open(mask_path).convert("L"), dtype=np.uint8))
    return images, masks


def augment(img: np.ndarray, mask: np.ndarray, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One random training view: crop, flip, resize to ``size`` square, colour jitter. Returns float32 CHW, uint8 HW."""
    h, w = mask.shape
    if img.shape[:2] != (h, w):
        img = np.asarray(Image.fromarray(img).resize((w, h), Image.BILINEAR))
    fw, fh = rng.uniform(0.7, 1.0, size=2)
    cw, ch = max(1, round(w * fw)), max(1, round(h * fh))
    x0 = int(rng.integers(0, w - cw + 1))
    y0 = int(rng.integers(0, h - ch + 1))
    pil = Image.fromarray(img).crop((x0, y0, x0 + cw, y0 + ch)).resize((size, size), Image.BILINEAR)
    mpil = Image.fromarray(mask).crop((x0, y0, x0 + cw, y0 + ch)).resize((size, size), Image.BILINEAR)
    arr = np.asarray(pil, dtype=np.float32) / 255.0
    m = np.asarray(mpil, dtype=np.uint8)
    if rng.random() < 0.5:
        arr, m = arr[:, ::-1], m[:, ::-1]
    grey = arr @ np.asarray([0.299, 0.587, 0.114], dtype=np.float32)
    if rng.random() < 0.05:
        arr = np.repeat(grey[..., None], 3, axis=2)
    else:
        sat = rng.uniform(0.7, 1.3)
        arr = grey[..., None] + sat * (arr - grey[..., None])
    arr = arr * rng.uniform(0.75, 1.25)  # brightness
    arr = arr.mean() + rng.uniform(0.75, 1.25) * (arr - arr.mean())  # contrast
    arr = np.clip(arr, 0.0, 1.0)
    arr = (arr - np.asarray(IMAGENET_MEAN, np.float32)) / np.asarray(IMAGENET_STD, np.float32)
    return np.ascontiguousarray(arr.transpose(2, 0, 1)), np.ascontiguousarray(m)


def saliency_loss(outputs: list[torch.Tensor], target: torch.Tensor) -> torch.Tensor:
    """BCE + soft IoU, fused output weight 1 and each side output 0.4 (deep supervision)."""
    total = outputs[0].new_zeros(())
    for k, logits in enumerate(outputs):
        logits = F.interpolate(logits, size=target.shape[-2:], mode="bilinear", align_corners=False)
        bce = F.binary_cross_entropy_with_logits(logits, target)
        prob = torch.sigmoid(logits)
        inter = (prob * target).sum(dim=(1, 2, 3))
        union = (prob + target - prob * target).sum(dim=(1, 2, 3))
        iou = (1.0 - (inter + 1.0) / (union + 1.0)).mean()
        total = total + (1.0 if k == 0 else 0.4) * (bce + iou)
    return total


class ViewCache:
    """Memory-mapped frozen-stage features of every (view, image), filled lazily."""

    def __init__(self, folder: Path, views: int, n: int, size: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        meta = {"views": views, "n": n, "size": size, "frozen": FROZEN}
        meta_path = folder / "meta.json"
        fresh = not meta_path.exists() or json.loads(meta_path.read_text()) != meta
        mode = "w+" if fresh else "r+"
        s4, s8 = size // 4, size // 8
        self.tap4 = np.lib.format.open_memmap(folder / "tap4.npy", mode, np.float16, (views, n, 24, s4, s4))
        self.tap8 = np.lib.format.open_memmap(folder / "tap8.npy", mode, np.float16, (views, n, 32, s8, s8))
        self.mask = np.lib.format.open_memmap(folder / "mask.npy", mode, np.uint8, (views, n, size, size))
        self.filled_path = folder / "filled.npy"
        self.filled = np.zeros((views, n), bool) if fresh else np.load(self.filled_path)
        if fresh:
            meta_path.write_text(json.dumps(meta))

    def flush(self) -> None:
        for arr in (self.tap4, self.tap8, self.mask):
            arr.flush()
        np.save(self.filled_path, self.filled)


def _lr_factor(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return 0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))


def export_weights(model: SaliencyNet, path: Path) -> None:
    """Save the inference weights as fp16 safetensors (halves the shipped size; outputs change < 1e-3)."""
    from safetensors.torch import save_file

    state = {
        k: v.detach().to(torch.float16).contiguous()
        for k, v in model.state_dict().items()
        if not k.endswith("num_batches_tracked")
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    save_file(state, str(tmp), metadata={"format": "pt", "model": "sdpic-saliency-mnv2"})
    os.replace(tmp, path)


def train(cfg: TrainConfig) -> Path:
    """Train (or resume) and export the weights; returns the exported file."""
    if cfg.epochs < 1 or cfg.views < 1 or cfg.batch < 1 or cfg.size < 64 or cfg.size % 32:
        raise ParameterError("need epochs >= 1, views >= 1, batch >= 1 and a size that is a multiple of 32 (>= 64)")
    from tqdm import tqdm

    torch.set_num_threads(cfg.threads)
    root = resolve_ecssd_dir(cfg.data or None)
    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    out = Path(cfg.out) if cfg.out else run_dir / "saliency_mnv2.safetensors"
    images, masks = _load_pairs(root, "train", cfg.limit)
    n = len(images)
    cache = ViewCache(run_dir / "cache", cfg.views, n, cfg.size)

    torch.manual_seed(cfg.seed)
    model = SaliencyNet()
    load_imagenet_weights(model.backbone)
    frozen = model.backbone.features[:FROZEN]
    for p in frozen.parameters():
        p.requires_grad_(False)
    bb_params = [p for p in model.backbone.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(
        [{"params": bb_params, "lr": cfg.lr_backbone}, {"params": model.decoder.parameters(), "lr": cfg.lr_decoder}],
        weight_decay=cfg.weight_decay,
    )
    base_lrs = [cfg.lr_backbone, cfg.lr_decoder]
    steps_per_epoch = n // cfg.batch
    total = cfg.epochs * steps_per_epoch
    start_epoch, step = 0, 0
    ckpt_path = run_dir / "ckpt.pt"
    log_path = run_dir / "log.jsonl"
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        if ckpt["config"] != asdict(cfg):
            print(f"note: resuming {ckpt_path} written with a different config: {ckpt['config']}")
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["opt"])
        start_epoch, step = ckpt["epoch"], ckpt["step"]
        print(f"resumed from epoch {start_epoch}")

    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        model.backbone.eval()  # frozen BN statistics everywhere in the trunk
        view = epoch % cfg.views
        order = np.random.default_rng([cfg.seed, epoch]).permutation(n)
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{cfg.epochs} (view {view})", unit="batch")
        running, t0 = 0.0, time.time()
        for b in bar:
            idx = np.sort(order[b * cfg.batch : (b + 1) * cfg.batch])
            todo = [i for i in idx if not cache.filled[view, i]]
            if todo:
                xs, ms = [], []
                for i in todo:
                    x, m = augment(images[i], masks[i], cfg.size, np.random.default_rng([cfg.seed, view, int(i)]))
                    xs.append(x)
                    ms.append(m)
                with torch.no_grad():
                    feats = frozen[:4](torch.from_numpy(np.stack(xs)))
                    f8 = frozen[4:](feats)
                cache.tap4[view, todo] = feats.numpy().astype(np.float16)
                cache.tap8[view, todo] = f8.numpy().astype(np.float16)
                cache.mask[view, todo] = np.stack(ms)
                cache.filled[view, todo] = True
            tap4 = torch.from_numpy(cache.tap4[view, idx].astype(np.float32))
            tap8 = torch.from_numpy(cache.tap8[view, idx].astype(np.float32))
            target = torch.from_numpy(cache.mask[view, idx].astype(np.float32) / 255.0)[:, None]
            for g, base in zip(opt.param_groups, base_lrs, strict=True):
                g["lr"] = base * _lr_factor(step, total, cfg.warmup)
            outputs = model.forward_from(FROZEN, [tap4, tap8], tap8)
            loss = saliency_loss(outputs, target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            running += loss.item()
            bar.set_postfix(loss=f"{running / (b + 1):.4f}")
        bar.close()
        cache.flush()
        torch.save(
            {
                "model": model.state_dict(),
                "opt": opt.state_dict(),
                "epoch": epoch + 1,
                "step": step,
                "config": asdict(cfg),
            },
            ckpt_path.with_suffix(".tmp"),
        )
        os.replace(ckpt_path.with_suffix(".tmp"), ckpt_path)
        with open(log_path, "a", encoding="utf-8") as fh:
            fh.write(
                json.dumps({"epoch": epoch + 1, "loss": running / max(1, steps_per_epoch), "seconds": time.time() - t0})
                + "\n"
            )
    model.eval()
    export_weights(model, out)
    print(f"wrote {out}")
    return out

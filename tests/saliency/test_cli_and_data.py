"""The ``sdpic saliency`` command forms, the committed split, the backbone's weight layout."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from sdpic.cli import main
from sdpic.saliency.data import load_split, split_paths
from sdpic.saliency.mobilenet import TAP_CHANNELS, MobileNetV2Features, imagenet_weights_path, load_imagenet_weights


@pytest.fixture()
def photo_dir(tmp_path, object_image):
    rgb, mask = object_image
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    for i in range(2):
        Image.fromarray(np.roll(rgb, 7 * i, axis=1)).save(images / f"{i:04d}.jpg", quality=95)
        Image.fromarray(np.roll(mask, 7 * i, axis=1).astype(np.uint8) * 255).save(masks / f"{i:04d}.png")
    return tmp_path


def test_cli_writes_map_and_overlay(photo_dir, capsys) -> None:
    src = photo_dir / "images" / "0000.jpg"
    out = photo_dir / "out" / "map.png"
    assert main(["saliency", str(src), "-o", str(out), "--method", "hc", "--overlay"]) == 0
    sal = Image.open(out)
    assert sal.mode == "L" and sal.size == (128, 96)
    overlay = Image.open(out.with_name("map_overlay.png"))
    assert overlay.mode == "RGB" and overlay.size == (128, 96)
    # refuses to overwrite without --force, and works with it
    assert main(["saliency", str(src), "-o", str(out), "--method", "hc"]) == 1
    assert "exists" in capsys.readouterr().err
    assert main(["saliency", str(src), "-o", str(out), "--method", "hc", "--force"]) == 0


def test_cli_out_dir_and_errors(photo_dir, capsys) -> None:
    srcs = sorted(str(p) for p in (photo_dir / "images").iterdir())
    out_dir = photo_dir / "maps"
    assert main(["saliency", *srcs, "--out-dir", str(out_dir), "--method", "spectral"]) == 0
    assert sorted(p.name for p in out_dir.iterdir()) == ["0000_saliency.png", "0001_saliency.png"]
    assert main(["saliency", *srcs, "-o", str(photo_dir / "x.png"), "--method", "hc"]) == 1
    bad = photo_dir / "bad.png"
    bad.write_text("no image here")
    assert main(["saliency", str(bad), "--method", "hc"]) == 1
    assert "bad.png" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["saliency", str(bad), "--method", "nope"])


def test_cli_eval_json(photo_dir) -> None:
    out = photo_dir / "res.json"
    md = photo_dir / "res.md"
    argv = [
        "saliency",
        "eval",
        "--images",
        str(photo_dir / "images"),
        "--masks",
        str(photo_dir / "masks"),
        "--method",
        "hc",
        "--method",
        "finegrained",
        "--json",
        str(out),
        "--markdown",
        str(md),
        "--quiet",
    ]
    assert main(argv) == 0
    res = json.loads(out.read_text())
    assert set(res) == {"hc", "finegrained"}
    for scores in res.values():
        assert set(scores) == {"mae", "max_f", "s_measure", "e_measure", "seconds_per_image"}
        assert 0.0 <= scores["mae"] <= 1.0 and 0.0 <= scores["max_f"] <= 1.0
    assert res["hc"]["max_f"] > 0.8  # the red disc is an easy case for global contrast
    assert "sdpic saliency eval" in md.read_text()


def test_cli_train_parses_without_training() -> None:
    from sdpic.saliency.cli import train_parser

    a = train_parser().parse_args(["--epochs", "3", "--run-dir", "runs/x", "--size", "256"])
    assert a.epochs == 3 and a.size == 256 and a.run_dir == "runs/x"


def test_split_is_fixed_and_disjoint() -> None:
    split = load_split()
    assert len(split["train"]) == 720 and len(split["val"]) == 180
    assert not set(split["train"]) & set(split["val"])
    assert len(set(split["train"]) | set(split["val"])) == 900


def test_split_files_exist(ecssd_dir) -> None:
    for img, mask in split_paths(ecssd_dir, "all"):
        assert img.is_file() and mask.is_file()


def test_mobilenet_loads_torchvision_weights() -> None:
    try:
        path = imagenet_weights_path()
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        pytest.skip(str(exc))
    model = MobileNetV2Features()
    load_imagenet_weights(model)  # strict: every torchvision trunk key must match
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert torch.equal(model.state_dict()["features.0.0.weight"], state["features.0.0.weight"])
    feats = model.eval()(torch.zeros(1, 3, 64, 96))
    assert [f.shape[1] for f in feats] == list(TAP_CHANNELS)
    assert [f.shape[-1] for f in feats] == [24, 12, 6, 3]

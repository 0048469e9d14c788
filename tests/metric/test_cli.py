"""``sdpic metric``: distances, maps, JSON, errors, and the calibrate / eval-2afc forms."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sdpic.cli import main


@pytest.fixture()
def images(tmp_path: Path) -> tuple[Path, Path, Path]:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    b = np.clip(a.astype(np.int16) + rng.integers(-30, 30, a.shape), 0, 255).astype(np.uint8)
    pa, pb, pc = tmp_path / "ref.png", tmp_path / "img.png", tmp_path / "small.png"
    Image.fromarray(a).save(pa)
    Image.fromarray(b).save(pb)
    Image.fromarray(a[:40, :40]).save(pc)
    return pa, pb, pc


def test_distance_text_and_json(images: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    ref, img, _ = images
    assert main(["metric", str(ref), str(img)]) == 0
    out = capsys.readouterr().out
    assert "lpips-alex=" in out and "psnr=" in out and "ms_ssim=" in out
    assert main(["metric", str(ref), str(img), str(ref), "--json", "--metric", "all"]) == 0
    info = json.loads(capsys.readouterr().out)
    first, second = info["results"]
    assert first["lpips_alex"] > 0 and first["lpips_vgg"] > 0 and first["dists"] > 0
    assert second["lpips_alex"] == pytest.approx(0.0, abs=1e-6) and second["dists"] == pytest.approx(0.0, abs=1e-6)
    assert info["versions"] == {"lpips-alex": "v0.1", "lpips-vgg": "v0.1", "dists": "DISTS_pytorch-0.1"}


def test_distance_map(images: tuple[Path, Path, Path], tmp_path: Path) -> None:
    ref, img, _ = images
    out = tmp_path / "map.png"
    assert main(["metric", "--map", str(out), str(ref), str(img)]) == 0
    with Image.open(out) as m:
        assert m.size == (64, 48) and m.mode == "L"
    assert main(["metric", str(ref), str(img), "--map", str(out)]) == 1  # exists, no --force
    assert main(["metric", str(ref), str(img), "--map", str(out), "--force"]) == 0


def test_distance_errors(images: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref, img, small = images
    assert main(["metric", str(ref), str(small)]) == 1
    assert "differs" in capsys.readouterr().err
    assert main(["metric", str(ref), str(tmp_path / "missing.png")]) == 1
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "junk.png").write_text("junk")
    assert main(["metric", str(ref), str(tmp_path / "junk.png")]) == 1
    assert "readable" in capsys.readouterr().err
    assert main(["metric", str(ref), str(img), "--version", "v42"]) == 1
    assert main(["metric", str(ref), str(img), "--metric", "dists", "--map", str(tmp_path / "m.png")]) == 1
    assert "no spatial map" in capsys.readouterr().err
    assert main(["metric"]) == 2


def test_calibrate_and_eval(small_bapps: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bapps_dir = small_bapps
    out = tmp_path / "w.safetensors"
    argv = ["metric", "calibrate", "--bapps", str(bapps_dir), "--steps", "30", "--out", str(out), "--json"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["weights"] == str(out) and out.is_file()
    assert {"train_before", "train_after", "val_before", "val_after"} <= set(report)
    assert main(argv) == 1  # never overwrite a weights version silently
    assert main(["metric", "eval-2afc", "--bapps", str(bapps_dir), "--weights", str(out), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)["scores"]
    assert {"psnr", "ssim", "ms_ssim", "lpips_alex_v0.1", "lpips_vgg_v0.1", "dists"} <= set(scores)
    assert "lpips_alex_w" in scores


def test_mos_cli(mos_table: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "metric",
        "eval-2afc",
        "--table",
        str(mos_table),
        "--root",
        str(mos_table.parent),
        "--max-pairs-per-ref",
        "2",
    ]
    assert main([*argv, "--higher-is-better"]) == 0
    assert "compression distortions" in capsys.readouterr().out
    assert main(argv) == 1  # the direction of a custom table's scores must be stated
    assert main(["metric", "eval-2afc", "--table", "LIVE"]) == 1  # --root is required

"""`sdpic export onnx`: the bundle folder, its index, refusing to overwrite, another synthesis decoder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sdpic.cli import main
from sdpic.zoo import entry_by_name

pytest.importorskip("onnx")


def test_export_onnx_writes_a_bundle_and_refuses_to_overwrite(tmp_path: Path, capsys) -> None:
    out = tmp_path / "models"
    weights = entry_by_name("sdpic").path
    assert main(["export", "onnx", "--model", "sdpic", "--synthesis", f"again={weights}", "--out-dir", str(out),
                 "--no-fp16"]) == 0
    index = json.loads((out / "models.json").read_text())
    assert [(m["model_id"], m["name"]) for m in index["models"]] == [(2, "sdpic")]
    manifest = json.loads((out / "sdpic.json").read_text())
    assert set(manifest["synthesis"]) == {"default", "again"}
    default, again = manifest["synthesis"]["default"]["fp32"], manifest["synthesis"]["again"]["fp32"]
    assert (out / default["file"]).stat().st_size == default["bytes"]
    assert default["sha256"] == again["sha256"]  # the same g_s exports to the same bytes
    assert "fp16" not in manifest["synthesis"]["default"]
    capsys.readouterr()
    assert main(["export", "onnx", "--model", "sdpic", "--out-dir", str(out), "--no-fp16"]) == 1
    assert "exists" in capsys.readouterr().err
    assert main(["export", "onnx", "--synthesis", "bad", "--out-dir", str(out)]) == 1


def test_export_onnx_with_a_realism_decoder(tmp_path: Path, capsys) -> None:
    from sdpic import zoo
    from sdpic.export.reference import fixture_realism_decoder

    weights = tmp_path / "realism.safetensors"
    zoo.save_realism_file(fixture_realism_decoder(zoo.load_model("sdpic")), weights, entry_by_name("sdpic").path)
    out = tmp_path / "models"
    assert main(["export", "onnx", "--model", "sdpic", "--realism", str(weights), "--default-realism", "0.25",
                 "--out-dir", str(out), "--no-fp16"]) == 0
    manifest = json.loads((out / "sdpic.json").read_text())
    assert manifest["realism"] == {"synthesis": "realism", "default": 0.25, "lift_span": 8.0}
    realism = manifest["synthesis"]["realism"]["fp32"]
    assert (out / realism["file"]).stat().st_size == realism["bytes"]
    capsys.readouterr()
    for bad in (["--realism", str(weights)],  # two models
                ["--model", "sdpic", "--realism", str(tmp_path / "missing.safetensors")],
                ["--model", "sdpic", "--realism", str(weights), "--default-realism", "2"],
                ["--model", "sdpic-mse", "--default-realism", "0.5"],  # no realism decoder
                ["--model", "sdpic-mse", "--realism", str(weights)]):  # one for other weights
        assert main(["export", "onnx", *bad, "--out-dir", str(tmp_path / "other"), "--no-fp16", "--force"]) != 0
        assert "error" in capsys.readouterr().err

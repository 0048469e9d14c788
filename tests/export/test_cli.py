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

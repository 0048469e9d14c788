"""Folder batches: structure kept, parallel workers, resume, shards, summary, and no half-written output
after an interrupt (Ctrl-C, SIGTERM, kill -9 of the parent)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from sdpic.batch import Job, collect_inputs, make_plan, parse_shard, run_batch
from sdpic.cli import main
from sdpic.codec_cli import is_valid_png, is_valid_sdpic
from sdpic.errors import ParameterError
from sdpic.format import unpack
from sdpic.outputs import atomic_write_bytes, remove_stale_temp_files, temp_file_target
from tests.batch_helpers import die_on_poison
from tests.conftest import smooth_image

ROOT = Path(__file__).resolve().parents[1]


def make_tree(root: Path, count: int, size: tuple[int, int] = (48, 64)) -> list[Path]:
    """``count`` small PNGs, every third one in ``sub/``, plus a text file a folder batch must ignore."""
    paths = []
    for i in range(count):
        path = root / ("sub" if i % 3 == 0 else "") / f"img{i:02d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(smooth_image(*size, seed=i)).save(path)
        paths.append(path)
    (root / "notes.txt").write_text("not an image")
    return paths


def outputs_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_folder_batch_keeps_structure_runs_workers_and_reports(tmp_path: Path, capsys) -> None:
    make_tree(tmp_path / "in", 5)
    (tmp_path / "in" / "sub" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    report = tmp_path / "report.json"
    status = main(["compress", str(tmp_path / "in"), "--out-dir", str(tmp_path / "out"), "--recursive",
                   "--jobs", "2", "--quality", "20", "--report", str(report)])
    assert status == 1  # one bad file: the others are done, the exit status says something failed
    made = outputs_under(tmp_path / "out")
    assert [p.relative_to(tmp_path / "out").as_posix() for p in made] == [
        "img01.sdpic", "img02.sdpic", "img04.sdpic", "sub/img00.sdpic", "sub/img03.sdpic"]
    assert all(is_valid_sdpic(p) for p in made)
    summary = json.loads(report.read_text())
    assert (summary["planned"], summary["done"], summary["failed"]) == (6, 5, 1)
    assert summary["failures"][0]["file"].endswith("broken.png")
    assert summary["bytes_out"] == sum(p.stat().st_size for p in made)
    expected_bpp = sum(p.stat().st_size * 8 / (48 * 64) for p in made) / 5
    assert summary["mean_bpp"] == pytest.approx(expected_bpp)
    err = capsys.readouterr().err
    assert "broken.png" in err and "5 compressed" in err and "mean" in err and "bpp" in err
    # without --recursive only the top folder is taken
    assert main(["decompress", str(tmp_path / "out"), "--out-dir", str(tmp_path / "png"), "--jobs", "1"]) == 0
    assert [p.name for p in outputs_under(tmp_path / "png")] == ["img01.png", "img02.png", "img04.png"]


def test_resume_skips_valid_outputs_redoes_missing_and_refuses_foreign_files(tmp_path: Path, capsys) -> None:
    make_tree(tmp_path / "in", 3)
    out = tmp_path / "out"
    args = ["compress", str(tmp_path / "in"), "--out-dir", str(out), "-r", "--jobs", "1", "--quality", "10"]
    assert main(args) == 0
    first = {p: p.read_bytes() for p in outputs_under(out)}
    assert len(first) == 3
    missing = out / "img01.sdpic"
    missing.unlink()
    stale = out / f".{missing.name}.abc123.part"  # what a kill -9 in the middle of a write leaves
    stale.write_bytes(b"SDPC half")
    before = {p: p.stat().st_mtime_ns for p in outputs_under(out) if p.suffix == ".sdpic"}
    capsys.readouterr()
    assert main([*args, "--resume"]) == 0
    assert "1 compressed, 2 skipped" in capsys.readouterr().err
    assert missing.read_bytes() == first[missing]  # redone, deterministically identical
    assert not stale.exists()  # the stale temporary file was cleaned up
    assert all(p.stat().st_mtime_ns == t for p, t in before.items())  # valid outputs untouched
    # a corrupt existing output is not "done": resume refuses it (no silent overwrite) until --force
    damaged = out / "img02.sdpic"
    damaged.write_bytes(damaged.read_bytes()[:-1] + b"\0")
    assert main([*args, "--resume"]) == 1
    assert not is_valid_sdpic(damaged)
    assert main([*args, "--force"]) == 0
    assert is_valid_sdpic(damaged)
    # without --resume or --force existing outputs are refused
    assert main(args) == 1


def test_shards_partition_the_sorted_file_list(tmp_path: Path) -> None:
    files = [(Path(f"/data/{name}.png"), Path(f"{name}.png")) for name in "gfedcba"]
    shards = [make_plan(sorted(files), None, ".sdpic", force=False, resume=False, validate=lambda p: False,
                        shard=(i, 3)) for i in range(3)]
    names = [[job.source.stem for job in plan.jobs] for plan in shards]
    assert names == [["a", "d", "g"], ["b", "e"], ["c", "f"]]
    assert parse_shard("2/3") == (2, 3) and parse_shard(None) is None
    for bad in ("3/3", "-1/2", "1", "a/b", "0/0"):
        with pytest.raises(ParameterError):
            parse_shard(bad)
    # through the CLI: two shards of one command cover the folder exactly once
    make_tree(tmp_path / "in", 4)
    out = tmp_path / "out"
    base = ["compress", str(tmp_path / "in"), "--out-dir", str(out), "-r", "--jobs", "1", "--quality", "5"]
    assert main([*base, "--shard", "0/2"]) == 0
    first = {p.name for p in outputs_under(out)}
    assert main([*base, "--shard", "1/2"]) == 0
    second = {p.name for p in outputs_under(out)} - first
    assert len(first) == 2 and len(second) == 2
    assert main([*base, "--shard", "2/2"]) == 1  # bad shard: a clean error


def test_plan_refuses_inputs_as_outputs_and_shared_outputs(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "a.jpg").write_bytes(b"")
    (tmp_path / ".hidden.png").write_bytes(b"")
    files = collect_inputs([tmp_path], {".png", ".jpg"}, recursive=False)
    assert [p.name for p, _ in files] == ["a.jpg", "a.png"]
    plan = make_plan(files, tmp_path / "out", ".sdpic", force=True, resume=False, validate=lambda p: True)
    assert len(plan.jobs) == 1 and "also the output of" in plan.early[0].message
    plan = make_plan(files[:1], None, ".png", force=True, resume=False, validate=lambda p: True,
                     single_output=tmp_path / "a.jpg")
    assert not plan.jobs and "input" in plan.early[0].message


def test_temp_files_are_recognised_and_only_ours_are_removed(tmp_path: Path) -> None:
    assert temp_file_target(".photo.sdpic.x1y2z3.part") == "photo.sdpic"
    assert temp_file_target("photo.sdpic") is None and temp_file_target(".part") is None
    mine = tmp_path / ".a.sdpic.111.part"
    other = tmp_path / ".b.sdpic.222.part"  # another shard's file in progress
    mine.write_bytes(b"x")
    other.write_bytes(b"x")
    assert remove_stale_temp_files([tmp_path / "a.sdpic"]) == [mine]
    assert other.exists()


def test_atomic_write_leaves_nothing_when_interrupted(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "x.sdpic"
    target.write_bytes(b"old")

    def interrupted_fsync(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted_fsync)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(target, b"new contents")
    assert target.read_bytes() == b"old" and sorted(tmp_path.iterdir()) == [target]


def test_a_dead_worker_fails_its_files_and_the_batch_goes_on(tmp_path: Path) -> None:
    names = ["a", "b", "c", "poison", "d", "e", "f", "g"]
    for name in names:
        (tmp_path / f"{name}.txt").write_text(name)
    jobs = [Job(tmp_path / f"{n}.txt", tmp_path / "out" / f"{n}.copy") for n in names]
    plan = make_plan([(j.source, Path(j.source.name)) for j in jobs], tmp_path / "out", ".copy", force=False,
                     resume=False, validate=lambda p: False)
    report = tmp_path / "report.json"
    assert run_batch(plan, die_on_poison, jobs=2, threads=1, verb="copied", report=report) == 1
    summary = json.loads(report.read_text())
    # the files in flight with the dying worker are retried alone, so only the culprit fails, and the temporary
    # files that dead workers leave (theirs, or another's killed with the pool) are removed
    assert (summary["done"], summary["failed"]) == (len(names) - 1, 1)
    assert "poison" in summary["failures"][0]["file"] and "worker process died" in summary["failures"][0]["error"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"{n}.copy" for n in names if n != "poison"]
    assert not (tmp_path / "out" / "poison.copy").exists()


def _start_batch(tmp_path: Path, command: str, source: Path, out: Path, jobs: int) -> subprocess.Popen:
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "PYTHONPATH": str(ROOT / "src")}
    return subprocess.Popen(
        [sys.executable, "-m", "sdpic.cli", command, str(source), "--out-dir", str(out), "-r", "--jobs", str(jobs),
         *(["--quality", "30"] if command == "compress" else [])],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
        # As from a terminal: SIGINT handled. (Under `make test &` it arrives ignored, and a child keeps that.)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _interrupt_when_first_output_appears(proc: subprocess.Popen, out: Path, how: str, pattern: str) -> None:
    deadline = time.monotonic() + 120
    while not list(out.rglob(pattern)) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the batch finished before it could be interrupted; use more files"
    if how == "ctrl-c":
        os.killpg(proc.pid, signal.SIGINT)  # a terminal sends SIGINT to the whole foreground group
    elif how == "sigterm":
        proc.send_signal(signal.SIGTERM)  # e.g. a scheduler's time limit, sent to the parent only
    else:
        proc.kill()  # kill -9 of the parent: no clean-up in it at all
    proc.communicate(timeout=60)


def _workers_gone(session_id: int, timeout: float = 30) -> bool:
    """True once no process of the batch's session is left (workers end with their parent)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if os.getsid(int(entry.name)) == session_id:
                        alive.append(entry.name)
                except (ProcessLookupError, PermissionError):
                    pass
        if not alive:
            return True
        time.sleep(0.1)
    return False


# Enough files that the interrupt lands mid-batch even on a fast machine (12 raced to completion once).
FILES = 40


@pytest.mark.slow
@pytest.mark.parametrize(("command", "how", "jobs"), [
    ("compress", "ctrl-c", 2), ("compress", "kill-9", 2), ("decompress", "sigterm", 1)])
def test_interrupted_batch_leaves_only_complete_outputs_and_resumes(tmp_path: Path, command: str, how: str,
                                                                    jobs: int, capsys) -> None:
    if not Path("/proc").is_dir():
        pytest.skip("needs /proc to see the worker processes")
    source = tmp_path / "in"
    make_tree(source, FILES, size=(64, 96))
    if command == "decompress":
        assert main(["compress", str(source), "--out-dir", str(tmp_path / "streams"), "-r", "--quality", "30",
                     "--jobs", "1"]) == 0
        source = tmp_path / "streams"
    suffix, valid = (".sdpic", is_valid_sdpic) if command == "compress" else (".png", is_valid_png)
    out = tmp_path / "out"
    proc = _start_batch(tmp_path, command, source, out, jobs)
    _interrupt_when_first_output_appears(proc, out, how, f"*{suffix}")
    if how != "kill-9":
        assert proc.returncode == 130
    assert _workers_gone(proc.pid), "worker processes outlived the interrupted batch"
    left = outputs_under(out)
    finished = [p for p in left if p.suffix == suffix]
    assert 0 < len(finished) < FILES
    assert all(valid(p) for p in finished), "an interrupted run left a half-written output"
    stray = [p for p in left if p not in finished]
    assert all(temp_file_target(p.name) for p in stray), f"unexpected files: {stray}"
    if how != "kill-9":
        assert not stray  # a clean interrupt removes its temporary files itself
    # run the same command again with --resume: it finishes the rest and cleans what kill -9 left
    capsys.readouterr()
    assert main([*proc.args[3:], "--resume", "--jobs", "1"]) == 0
    assert f"{len(finished)} skipped" in capsys.readouterr().err
    final = outputs_under(out)
    assert len(final) == FILES and all(p.suffix == suffix and valid(p) for p in final)
    if command == "compress":
        assert all(unpack(p.read_bytes()).quality == 30 for p in final)

"""The tracked docs describe the project, not the work sessions that built it.

A mention of a numbered work session means nothing to a user; where an order matters, the text gives
a date or a training step instead. Checked over every tracked text file (JSON results excepted: they
are machine-written records).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: "session" or "sessions", then a number after blanks, a hyphen, a dash or "#" (ranges "16–17" included).
DIARY = re.compile(r"sessions?(?:\s+|\s*[-‐‑–—#]\s*)\d", re.IGNORECASE)
#: Bytes read to tell a binary file (a NUL among them, as git decides) from a text one.
SNIFF = 8000


def tracked_text_files() -> list[Path]:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    proc = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=False)
    if proc.returncode != 0:
        pytest.skip(f"not a git checkout: {proc.stderr.decode(errors='replace').strip()}")
    files = []
    for name in proc.stdout.decode().split("\0"):
        path = ROOT / name
        if not name or name.endswith(".json") or not path.is_file():  # a file deleted but not yet unstaged
            continue
        with path.open("rb") as fh:
            if b"\0" in fh.read(SNIFF):
                continue
        files.append(path)
    return files


def diary_hits(text: str) -> list[tuple[int, str]]:
    """(line number, line) of each line that mentions a numbered session."""
    return [(i, line.strip()) for i, line in enumerate(text.splitlines(), 1) if DIARY.search(line)]


S = "session"  # the examples are built, so this file itself never matches


@pytest.mark.parametrize(
    "line",
    [f"in {S} 16 we", f"{S.title()}s 9-16", f"the {S}-16 run", f"{S} 16–17", f"{S.upper()} 3", f"({S}\t4)",
     f"{S} #12"],
)
def test_pattern_catches_session_numbers(line: str) -> None:
    assert diary_hits(line)


@pytest.mark.parametrize(
    "line", ["a training session", "sessions of work", "session_id", "per session: 15 min", "session_12"]
)
def test_pattern_leaves_plain_words(line: str) -> None:
    assert not diary_hits(line)


def test_no_numbered_sessions_in_tracked_files() -> None:
    hits = []
    for path in tracked_text_files():
        text = path.read_bytes().decode("utf-8", errors="replace")
        hits += [f"{path.relative_to(ROOT)}:{n}: {line[:120]}" for n, line in diary_hits(text)]
    assert not hits, "numbered work sessions mentioned (give a date or a training step):\n" + "\n".join(hits)

"""Long decoder fuzz run: every case must end in a typed ``sdpic`` error or a valid image, in bounded
time and memory. The bounded version runs in the test suite (tests/test_fuzz.py, same helpers).

Phases:
1. structured: truncation at every byte offset of each seed stream; every header field set to
   boundary and random values; 1, 8 and 64 random bit flips; random bytes; mutations inside each
   section. Mutations are tried with the CRC-32 left as is *and* recomputed, so they reach the
   section parser, the quality-map decoder and the entropy decoder instead of stopping at the CRC.
2. coverage-guided (atheris / libFuzzer), seeded with the streams, for the rest of ``--seconds``;
   its mutator recomputes the CRC on most inputs for the same reason.

Per case it records the outcome (error class or "image"), the wall time against a budget of 2x the
clean decode time of a stream of the same declared size, and the peak RSS (Linux VmHWM, reset before
each case). An untyped exception stops the run and saves the input under ``--crash-dir``. A decoded
image must have the header's size and the mode its sections say (RGBA / LA with an alpha section);
``sdpic.api.info`` (which reads the ICC profile's description tag) runs on it too.

``--version-2`` fuzzes the optional sections of format version 2 (alpha plane, ICC profile, EXIF, XMP):
only the seeds that carry them, and section mutations (structured and atheris) only inside them.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/fuzz_decoder.py --seconds 1200 \\
        --json results/reliability/fuzz_long.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

# Header fields of format version 1 (docs/format.md): name, offset, struct code, values to try.
HEADER_FIELDS: list[tuple[str, int, str, tuple[int, ...]]] = [
    ("magic", 0, ">I", (0, 0x53445043 ^ 1, 0x89504E47, 0xFFFFFFFF)),
    ("version", 4, ">B", (0, 1, 2, 3, 255)),
    ("model_id", 5, ">H", (0, 1, 2, 3, 0xFFFF)),  # 3: no such model; 1 and 2 are shipped
    ("weights_hash", 7, ">Q", (0, 1, 0xFFFFFFFFFFFFFFFF)),
    ("width", 15, ">I", (0, 1, 2, 63, 65, 16384, 16385, 0x7FFFFFFF, 0xFFFFFFFF)),
    ("height", 19, ">I", (0, 1, 2, 63, 65, 16384, 16385, 0x7FFFFFFF, 0xFFFFFFFF)),
    ("colour", 23, ">B", (0, 1, 2, 255)),
    ("quality", 24, ">B", (0, 100, 101, 255)),
    ("level", 25, ">B", (0, 64, 65, 255)),
    ("flags", 26, ">B", (0, 1, 2, 0x80, 0xFF)),
    ("section_count", 27, ">B", (0, 1, 2, 3, 4, 5, 255)),
]
HEADER_SIZE = 28
#: Section tags of format version 2 (alpha, ICC profile, EXIF, XMP).
VERSION_2_TAGS = (5, 6, 7, 8)


def recrc(data: bytes) -> bytes:
    """Replace the trailing CRC-32 so the mutated stream passes the checksum and reaches deeper checks."""
    if len(data) < 4:
        return data
    body = data[:-4]
    return body + struct.pack(">I", zlib.crc32(body))


def sections(data: bytes) -> list[tuple[int, int, int]]:
    """(tag, payload offset, payload length) of each section of a well-formed stream."""
    out, pos = [], HEADER_SIZE
    for _ in range(data[27]):
        tag, length = struct.unpack_from(">BI", data, pos)
        out.append((tag, pos + 5, length))
        pos += 5 + length
    return out


def declared_pixels(data: bytes) -> int:
    """Width x height of the header (padded to 64), or 0 if there is no header to read."""
    if len(data) < HEADER_SIZE:
        return 0
    width, height = struct.unpack_from(">II", data, 15)
    return (width + (-width) % 64) * (height + (-height) % 64)


# ---------------------------------------------------------------------------------------- mutations
def truncations(data: bytes) -> Iterator[tuple[str, bytes]]:
    for cut in range(len(data)):
        yield f"truncate@{cut}", data[:cut]


def header_mutations(data: bytes, rng: random.Random) -> Iterator[tuple[str, bytes]]:
    for name, offset, code, values in HEADER_FIELDS:
        size = struct.calcsize(code)
        randoms = tuple(rng.getrandbits(8 * size) for _ in range(2))
        for value in (*values, *randoms):
            mutated = data[:offset] + struct.pack(code, value) + data[offset + size:]
            yield f"{name}={value}", mutated
            yield f"{name}={value}+crc", recrc(mutated)


def bit_flips(data: bytes, count: int, rng: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(count):
        bit = rng.randrange(8 * len(buf))
        buf[bit // 8] ^= 1 << (bit % 8)
    return bytes(buf)


def _pick_section(data: bytes, rng: random.Random, tags: tuple[int, ...] | None) -> int:
    """Index of a random section (among ``tags`` where given and present)."""
    parts = sections(data)
    if not parts:
        raise ValueError("no sections")
    chosen = [k for k, (tag, _, _) in enumerate(parts) if tags is None or tag in tags] or list(range(len(parts)))
    return rng.choice(chosen)


def section_mutation(data: bytes, rng: random.Random, tags: tuple[int, ...] | None = None) -> tuple[str, bytes]:
    """A random edit inside one section's payload or framing (one of ``tags`` where given), CRC recomputed."""
    tag, start, length = sections(data)[_pick_section(data, rng, tags)]
    kind = rng.choice(["flip", "byte", "zero", "ff", "cut", "grow", "length", "tag", "swap-words"])
    buf = bytearray(data)
    if kind in ("flip", "byte", "zero", "ff") and length:
        for _ in range(rng.choice([1, 2, 8])):
            i = start + rng.randrange(length)
            buf[i] = {"flip": buf[i] ^ (1 << rng.randrange(8)), "byte": rng.randrange(256), "zero": 0,
                      "ff": 0xFF}[kind]
    elif kind == "cut" and length:  # drop payload bytes and fix the section length (consistent framing)
        n = rng.randrange(1, length + 1)
        struct.pack_into(">I", buf, start - 4, length - n)
        del buf[start + length - n: start + length]
    elif kind == "grow":
        extra = bytes(rng.randrange(256) for _ in range(rng.choice([1, 3, 4, 8, 64])))
        struct.pack_into(">I", buf, start - 4, length + len(extra))
        buf[start + length: start + length] = extra
    elif kind == "length":
        struct.pack_into(">I", buf, start - 4, rng.choice([0, 1, length - 1, length + 1, 0xFFFFFFFF]) & 0xFFFFFFFF)
    elif kind == "tag":
        buf[start - 5] = rng.choice([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 255])
    elif kind == "swap-words" and length >= 8:
        i, j = (start + 4 * rng.randrange(length // 4) for _ in range(2))
        buf[i:i + 4], buf[j:j + 4] = buf[j:j + 4], buf[i:i + 4]
    return f"section{tag}:{kind}", recrc(bytes(buf))


def replace_section(data: bytes, rng: random.Random, edit: Callable[[bytes], bytes],
                    tags: tuple[int, ...] | None = None) -> bytes:
    """Apply ``edit`` to one section's payload (one of ``tags`` where given) and rebuild the framing (lengths,
    CRC) around it."""
    parts = sections(data)
    chosen = _pick_section(data, rng, tags)
    out = bytearray(data[:HEADER_SIZE])
    for k, (tag, start, length) in enumerate(parts):
        payload = data[start:start + length]
        if k == chosen:
            payload = bytes(edit(payload))
        out += struct.pack(">BI", tag, len(payload)) + payload
    return recrc(bytes(out) + b"\0\0\0\0")


# ---------------------------------------------------------------------------------------- the oracle
class UntypedError(Exception):
    """A decoder failure that is not an sdpic error: a bug."""


@dataclass
class Stats:
    cases: int = 0
    outcomes: Counter = field(default_factory=Counter)
    by_phase: Counter = field(default_factory=Counter)
    max_time_ratio: float = 0.0
    over_budget: int = 0
    first_try_over_budget: int = 0
    max_case_rss_mb: float = 0.0
    max_rss_case: dict = field(default_factory=dict)
    max_case_rss_growth_mb: float = 0.0  # peak during a case minus the RSS just before it
    slowest: tuple[float, str] = (0.0, "")

    def to_dict(self) -> dict:
        return {"cases": self.cases, "outcomes": dict(self.outcomes.most_common()), "by_phase": dict(self.by_phase),
                "max_time_ratio": round(self.max_time_ratio, 3), "cases_over_2x_budget": self.over_budget,
                "cases_over_2x_budget_first_try": self.first_try_over_budget,
                "max_case_peak_rss_mb": round(self.max_case_rss_mb, 1), "max_rss_case": self.max_rss_case,
                "max_case_rss_growth_mb": round(self.max_case_rss_growth_mb, 1),
                "slowest_case": {"ratio": round(self.slowest[0], 3), "name": self.slowest[1]}}


def decode_outcome(data: bytes) -> str:
    """Decode; return "image" or the sdpic error class name; raise UntypedError for anything else."""
    import sdpic
    from sdpic.api import info

    try:
        img = sdpic.decompress(data, threads=1)
        fields = info(data)
    except sdpic.SdpicError as exc:
        return type(exc).__name__
    except Exception as exc:  # the bug we are looking for
        raise UntypedError(f"{type(exc).__name__}: {exc}") from exc
    width, height = struct.unpack_from(">II", data, 15)
    if img.size != (width, height) or img.mode != fields["mode"] or img.mode not in ("RGB", "L", "RGBA", "LA"):
        raise UntypedError(f"decoded {img.mode} {img.size} for a {width}x{height} {fields['mode']} header")
    return "image"


def _peak_rss_reset() -> bool:
    """Reset the kernel's peak-RSS counter (Linux); False where that is not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _proc_status_mb(field: str) -> float | None:
    """A memory field of /proc/self/status (VmRSS, VmHWM) in MB; None where /proc is not there."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _rss_mb() -> float:
    rss = _proc_status_mb("VmRSS")
    return 0.0 if rss is None else rss


def _peak_rss_mb() -> float:
    peak = _proc_status_mb("VmHWM")
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 if peak is None else peak


class Oracle:
    """Runs cases and checks time against 2x the clean decode time at the declared size."""

    def __init__(self, seeds: list[bytes], slack_s: float = 0.05) -> None:
        self.stats = Stats()
        self.slack_s = slack_s
        self.slow_cases: list[tuple[str, bytes]] = []  # over budget even at best of 3, for confirm_slow()
        # Clean decode time as a + b * pixels, fitted on the smallest and largest seed (best of 3 each).
        points = []
        for data in sorted(seeds, key=declared_pixels)[:: max(1, len(seeds) - 1)]:
            decode_outcome(data)  # warm-up
            points.append((declared_pixels(data), min(self._timed(data)[1] for _ in range(3))))
        (p0, t0), (p1, t1) = points[0], points[-1]
        self.seconds_per_pixel = max((t1 - t0) / (p1 - p0), 0.0) if p1 > p0 else t0 / p0
        self.fixed_s = max(t0 - self.seconds_per_pixel * p0, 0.0)

    @staticmethod
    def _timed(data: bytes) -> tuple[str, float]:
        t0 = time.perf_counter()
        outcome = decode_outcome(data)
        return outcome, time.perf_counter() - t0

    def normal_seconds(self, data: bytes) -> float:
        """Clean decode time of a stream of this declared size (at least that of the smallest stream)."""
        return self.fixed_s + self.seconds_per_pixel * max(declared_pixels(data), 64 * 64)

    def run(self, phase: str, name: str, data: bytes) -> str:
        self.peak_rss_per_case = _peak_rss_reset()
        before = _rss_mb()
        outcome, seconds = self._timed(data)
        growth = _peak_rss_mb() - before
        normal = self.normal_seconds(data)
        s = self.stats
        if seconds > 2.0 * normal + self.slack_s:
            # Over budget once: time it twice more and keep the best. A slow input stays slow; a pause
            # of the process (the machine is shared, garbage collection) does not repeat.
            s.first_try_over_budget += 1
            seconds = min(seconds, *(self._timed(data)[1] for _ in range(2)))
        ratio = seconds / normal
        s.cases += 1
        s.outcomes[outcome] += 1
        s.by_phase[phase] += 1
        s.max_time_ratio = max(s.max_time_ratio, ratio)
        if seconds > 2.0 * normal + self.slack_s:
            s.over_budget += 1
            if len(self.slow_cases) < MAX_KEPT_SLOW:
                self.slow_cases.append((f"{phase}/{name}", data))
        s.max_case_rss_growth_mb = max(s.max_case_rss_growth_mb, growth)
        rss = _peak_rss_mb()
        if rss > s.max_case_rss_mb:
            s.max_case_rss_mb = rss
            s.max_rss_case = {"name": f"{phase}/{name}", "outcome": outcome, "bytes": len(data),
                              "declared_megapixels": round(declared_pixels(data) / 1e6, 3)}
        if ratio > s.slowest[0]:
            s.slowest = (ratio, f"{phase}/{name}")
        return outcome


    def confirm_slow(self, cases: list[tuple[str, bytes]], repeats: int = 5, save_dir: Path | None = None) -> dict:
        """Re-time cases that were over budget during the run, now that nothing else of ours runs: best of
        ``repeats``. What stays over 2x is a real slow input (saved whole under ``save_dir``); the rest was the
        shared machine."""
        confirmed = []
        for name, data in cases:
            best = min(self._timed(data)[1] for _ in range(repeats))
            if best > 2.0 * self.normal_seconds(data) + self.slack_s:
                if save_dir is not None:
                    (save_dir / f"slow-{len(confirmed)}.sdpic").write_bytes(data)
                confirmed.append({"name": name, "ratio": round(best / self.normal_seconds(data), 2),
                                  "hex": data.hex()[:2000]})
        return {"rechecked": len(cases), "still_over_2x": len(confirmed), "cases": confirmed[:20]}


MAX_KEPT_SLOW = 500


def structured_cases(seeds: list[bytes], rng: random.Random, random_rounds: int,
                     tags: tuple[int, ...] | None = None) -> Iterator[tuple[str, str, bytes]]:
    for k, seed in enumerate(seeds):
        for name, data in truncations(seed):
            yield "truncation", f"seed{k}/{name}", data
        for name, data in header_mutations(seed, rng):
            yield "header", f"seed{k}/{name}", data
    for r in range(random_rounds):
        seed = seeds[r % len(seeds)]
        for count in (1, 8, 64):
            flipped = bit_flips(seed, count, rng)
            yield "bitflip", f"{count}bits", flipped
            yield "bitflip+crc", f"{count}bits", recrc(flipped)
        name, data = section_mutation(seed, rng, tags)
        yield "section+crc", name, data
        blob = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 2 * len(seed))))
        yield "random", "bytes", blob
        yield "random", "magic+bytes", b"SDPC\x01" + blob
        yield "random+crc", "header+bytes", recrc(seed[:HEADER_SIZE] + blob + b"\0\0\0\0")


def seed_streams() -> list[bytes]:
    """Real streams of the shipped model: RGB, greyscale, a quality-map (ROI) stream, a multi-strip one, and
    the version-2 ones of :func:`version_2_seed_streams`."""
    import sdpic

    sys.path.insert(0, str(ROOT))
    from tests.conftest import smooth_image

    rgb = smooth_image(48, 64, seed=31)
    roi = smooth_image(80, 96, seed=32)
    mask = np.zeros(roi.shape[:2], np.float32)
    mask[20:60, 30:70] = 1.0
    return [sdpic.compress(rgb, quality=50, threads=1),
            sdpic.compress(smooth_image(29, 37, seed=33)[..., 0], quality=80, threads=1),
            sdpic.compress(roi, quality=30, saliency=mask, threads=1),
            sdpic.compress(smooth_image(300, 200, seed=34), quality=60, threads=1),
            *version_2_seed_streams()]


def version_2_seed_streams() -> list[bytes]:
    """Streams with every version-2 section: an RGBA cut-out with a Display P3 profile, EXIF (GPS) and XMP;
    an LA image with XMP only."""
    from PIL import Image

    import sdpic

    sys.path.insert(0, str(ROOT))
    from tests.metadata_helpers import cutout, display_p3, exif_bytes, xmp_bytes

    tagged = Image.fromarray(cutout(40, 48, seed=35))
    tagged.info.update({"icc_profile": display_p3(), "exif": exif_bytes(), "xmp": xmp_bytes()})
    la = Image.fromarray(cutout(24, 32, seed=36)[..., 2:], mode="LA")
    la.info["xmp"] = xmp_bytes()
    return [sdpic.compress(tagged, quality=40, threads=1), sdpic.compress(la, quality=70, threads=1)]


# ---------------------------------------------------------------------------------------- atheris phase
ATHERIS_CHILD = r"""
import json, os, random, struct, sys, time, atheris
sys.path[:0] = [sys.argv[1]]
with atheris.instrument_imports(include=["sdpic"]):
    import sdpic, sdpic.api, sdpic.format, sdpic.quality_map, sdpic.codec.model, sdpic.codec.coder
from benchmarks import fuzz_decoder as fz
seeds = [bytes.fromhex(h) for h in json.loads(open(sys.argv[2]).read())]
tags = tuple(int(t) for t in os.environ.get("SDPIC_FUZZ_TAGS", "").split(",") if t) or None
oracle = fz.Oracle(seeds)
stats_path, crash_dir, deadline = sys.argv[3], sys.argv[4], time.time() + float(sys.argv[5])
last = [0.0]

def mutator(data, max_size, seed):
    rnd = random.Random(seed)
    if rnd.random() < 0.5:  # structure-aware: mutate one section's payload, keep framing and CRC valid
        try:
            out = fz.replace_section(data, rnd, lambda payload: atheris.Mutate(payload, max_size // 2), tags)
            if len(out) <= max_size:  # libFuzzer refuses longer inputs
                return out
        except (ValueError, IndexError, struct.error):
            pass
    out = atheris.Mutate(data, max_size)
    return fz.recrc(out) if rnd.random() < 0.8 else out

def target(data):
    try:
        oracle.run("atheris", f"{len(data)}B/{fz.declared_pixels(bytes(data))}px", bytes(data))
    except fz.UntypedError:
        path = f"{crash_dir}/crash-{abs(hash(bytes(data)))}.sdpic"
        open(path, "wb").write(bytes(data))
        raise
    now = time.time()
    if now - last[0] > 5 or now > deadline:
        last[0] = now
        open(stats_path, "w").write(json.dumps(oracle.stats.to_dict()))
        open(stats_path + ".slow", "w").write(json.dumps([[n, d.hex()] for n, d in oracle.slow_cases]))

atheris.Setup(sys.argv[:1] + sys.argv[6:], target, custom_mutator=mutator)
atheris.Fuzz()
"""


def atheris_phase(seeds: list[bytes], seconds: float, crash_dir: Path, tags: tuple[int, ...] | None = None) -> dict:
    with tempfile.TemporaryDirectory(prefix="sdpic-fuzz-") as tmp:
        tmp = Path(tmp)
        corpus = tmp / "corpus"
        corpus.mkdir()
        for k, s in enumerate(seeds):
            (corpus / f"seed{k}").write_bytes(s)
        (tmp / "seeds.json").write_text(json.dumps([s.hex() for s in seeds]))
        stats = tmp / "stats.json"
        cmd = [sys.executable, "-c", ATHERIS_CHILD, str(ROOT), str(tmp / "seeds.json"), str(stats), str(crash_dir),
               str(seconds), f"-max_total_time={int(seconds)}", "-timeout=60", "-rss_limit_mb=4096",
               "-max_len=4096", f"-artifact_prefix={crash_dir}/", str(corpus)]
        t0 = time.time()
        env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "SDPIC_FUZZ_TAGS": ",".join(map(str, tags or ()))}
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        elapsed = time.time() - t0
        result = json.loads(stats.read_text()) if stats.exists() else {}
        slow_file = Path(str(stats) + ".slow")
        result["slow_cases"] = ([(n, bytes.fromhex(h)) for n, h in json.loads(slow_file.read_text())]
                                if slow_file.exists() else [])
        result.update({"seconds": round(elapsed, 1), "exit_code": proc.returncode,
                       "libfuzzer_tail": proc.stderr.strip().splitlines()[-3:]})
        return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=1200.0, help="total wall time (structured + atheris)")
    parser.add_argument("--random-rounds", type=int, default=400, help="random mutation rounds in phase 1")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-atheris", action="store_true")
    parser.add_argument("--crash-dir", type=Path, default=Path("runs/fuzz-crashes"))
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--version-2", action="store_true",
                        help="only the seeds with version-2 sections; section mutations only inside those sections")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    args.crash_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.time()
    seeds = version_2_seed_streams() if args.version_2 else seed_streams()
    tags = VERSION_2_TAGS if args.version_2 else None
    oracle = Oracle(seeds)
    rng = random.Random(args.seed)
    failures: list[str] = []
    run: Callable[[str, str, bytes], str] = oracle.run
    for phase, name, data in structured_cases(seeds, rng, args.random_rounds, tags):
        try:
            run(phase, name, data)
        except UntypedError as exc:
            path = args.crash_dir / f"{phase}-{oracle.stats.cases}.sdpic"
            path.write_bytes(data)
            failures.append(f"{phase}/{name}: {exc} (saved {path})")
    structured_s = time.time() - t_start
    print(f"structured: {oracle.stats.cases} cases in {structured_s:.0f} s, failures {len(failures)}; "
          f"{json.dumps(oracle.stats.to_dict())}", flush=True)
    report = {"date": time.strftime("%Y-%m-%d %H:%M"), "seed_streams": [len(s) for s in seeds],
              "focus": "version-2 sections (tags 5-8)" if args.version_2 else "all sections",
              "clean_decode_model": {"fixed_s": round(oracle.fixed_s, 4),
                                     "s_per_megapixel": round(oracle.seconds_per_pixel * 1e6, 3)},
              "structured": {**oracle.stats.to_dict(), "seconds": round(structured_s, 1), "failures": failures}}
    remaining = args.seconds - structured_s
    slow = list(oracle.slow_cases)
    if not args.no_atheris and remaining > 30:
        report["atheris"] = atheris_phase(seeds, remaining, args.crash_dir.resolve(), tags)
        slow += report["atheris"].pop("slow_cases")
        print(f"atheris: {json.dumps(report['atheris'])}", flush=True)
    report["over_budget_rechecked"] = oracle.confirm_slow(slow, save_dir=args.crash_dir)
    print(f"over-budget cases re-timed: {json.dumps(report['over_budget_rechecked'])[:400]}", flush=True)
    report["total_seconds"] = round(time.time() - t_start, 1)
    report["total_cases"] = report["structured"]["cases"] + report.get("atheris", {}).get("cases", 0)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"total {report['total_cases']} cases in {report['total_seconds']:.0f} s")
    ok = not failures and report.get("atheris", {}).get("exit_code", 0) == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Folder-scale runs of one per-file operation (compress or decompress): plan, shard, resume, run in
parallel worker processes, report.

The guarantees, in the order a run meets them:

* **Plan.** Inputs are files or folders (``recursive`` walks sub-folders; hidden entries and the output
  folder itself are skipped). Each input maps to one output that keeps the folder structure under
  ``out_dir``. An output that is an input, or that two inputs would share, is refused up front.
* **Shard.** ``shard=(i, n)`` keeps every n-th file of the sorted plan starting at i, so n copies of the
  same command (one per scheduler task) split a data set without talking to each other.
* **Resume.** An existing output is skipped when it is valid (``is_valid_output``) and ``resume`` is
  set; otherwise it is refused unless ``force``. Temporary files a killed run left behind are removed.
* **Run.** Files go to ``jobs`` spawned worker processes (each with ``threads`` torch threads), at most
  two per worker in flight. A bad file is a failed result, never the end of the run. A worker that dies
  (killed, out of memory) takes the files in flight with it; a fresh pool retries each of them once, alone,
  so only a file that kills its worker twice is reported as failed.
* **Interrupt.** Ctrl-C or SIGTERM stops the workers with SIGTERM; each deletes its temporary file on
  the way out (``outputs.atomic_write_bytes``). Workers also get SIGTERM when the parent dies (Linux
  ``PR_SET_PDEATHSIG``), so even ``kill -9`` of the parent leaves only complete outputs and hidden
  ``.part`` files, which the next run removes.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm import tqdm

from .errors import ParameterError, SdpicError
from .interrupts import sigterm_as_interrupt
from .outputs import atomic_write_bytes, remove_stale_temp_files
from .threads import torch_threads

#: Exit status after an interrupt (as shells report SIGINT).
INTERRUPTED_EXIT = 130


@dataclass(frozen=True)
class FileStats:
    """What one successful file produced (returned by a work function)."""

    bytes_out: int
    pixels: int
    compressed_bytes: int  # size of the .sdpic side, for bits per pixel in either direction
    message: str


@dataclass(frozen=True)
class Job:
    source: Path
    output: Path


@dataclass
class JobResult:
    source: str
    output: str
    status: str  # "done", "skipped" or "failed"
    bytes_in: int = 0
    bytes_out: int = 0
    pixels: int = 0
    bpp: float | None = None
    seconds: float = 0.0
    message: str = ""


#: A per-file operation: (input, output) -> stats; must be picklable (a module-level function or a
#: functools.partial of one) because it runs in spawned worker processes.
WorkFunction = Callable[[Path, Path], FileStats]
#: Says whether an existing output is complete and readable (for resume).
Validator = Callable[[Path], bool]


@dataclass
class Summary:
    """Totals of a run, printed at the end and optionally written as JSON."""

    planned: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    pixels: int = 0
    bpp_sum: float = 0.0
    seconds: float = 0.0
    interrupted: bool = False
    failures: list[dict] = field(default_factory=list)

    def add(self, result: JobResult) -> None:
        if result.status == "skipped":
            self.skipped += 1
            return
        if result.status == "failed":
            self.failed += 1
            self.failures.append({"file": result.source, "error": result.message})
            return
        self.done += 1
        self.bytes_in += result.bytes_in
        self.bytes_out += result.bytes_out
        self.pixels += result.pixels
        self.bpp_sum += result.bpp or 0.0

    @property
    def mean_bpp(self) -> float | None:
        return self.bpp_sum / self.done if self.done else None

    def as_dict(self) -> dict:
        out = asdict(self)
        del out["bpp_sum"]
        out["mean_bpp"] = self.mean_bpp
        return out

    def lines(self, verb: str) -> list[str]:
        head = (f"{self.planned} file(s): {self.done} {verb}, {self.skipped} skipped (already done), "
                f"{self.failed} failed")
        if self.interrupted:
            head += ", interrupted"
        lines = [head]
        if self.done:
            seconds = max(self.seconds, 1e-9)
            lines.append(f"bytes in {_human(self.bytes_in)} -> out {_human(self.bytes_out)}, "
                         f"mean {self.mean_bpp:.4f} bpp, {self.seconds:.1f} s "
                         f"({self.done / seconds:.2f} files/s, {self.pixels / 1e6 / seconds:.2f} MP/s)")
        return lines


def _human(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"i/n"`` (0 <= i < n) -> ``(i, n)``; None stays None."""
    if text is None:
        return None
    try:
        index_text, count_text = text.split("/")
        index, count = int(index_text), int(count_text)
    except ValueError:
        raise ParameterError(f"--shard takes i/n with whole numbers, e.g. 0/4; got {text!r}") from None
    if count < 1 or not 0 <= index < count:
        raise ParameterError(f"--shard {text}: need 0 <= i < n")
    return index, count


def default_jobs() -> int:
    """CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def collect_inputs(paths: Sequence[Path], suffixes: Iterable[str], recursive: bool,
                   skip_dir: Path | None = None) -> list[tuple[Path, Path]]:
    """Files to process as ``(path, relative output stem path)``, sorted and without duplicates.

    A file argument is taken whatever its suffix (the user named it); inside folders only ``suffixes``
    (lower case, with the dot) count, hidden names are skipped, and so is ``skip_dir`` (the output folder).
    """
    wanted = {s.lower() for s in suffixes}
    skip = skip_dir.resolve() if skip_dir is not None else None
    found: list[tuple[Path, Path]] = []
    for path in paths:
        if not path.is_dir():
            found.append((path, Path(path.name)))
            continue
        for folder, dirs, files in os.walk(path):
            folder_path = Path(folder)
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (folder_path / d).resolve() != skip)
            if not recursive:
                dirs[:] = []
            for name in sorted(files):
                if name.startswith(".") or Path(name).suffix.lower() not in wanted:
                    continue
                file_path = folder_path / name
                found.append((file_path, file_path.relative_to(path)))
    unique: dict[Path, tuple[Path, Path]] = {}
    for item in found:
        unique.setdefault(item[0].resolve(), item)
    return sorted(unique.values(), key=lambda item: str(item[0]))


@dataclass
class Plan:
    jobs: list[Job]
    early: list[JobResult]  # skipped (resume) and refused files: known before any work
    planned: int


def make_plan(files: Sequence[tuple[Path, Path]], out_dir: Path | None, suffix: str, *, force: bool,
              resume: bool, validate: Validator, shard: tuple[int, int] | None = None,
              single_output: Path | None = None) -> Plan:
    """Map inputs to outputs and decide, per file, run / skip / refuse (see the module docstring)."""
    if shard is not None:
        index, count = shard
        files = files[index::count]
    inputs_resolved = {path.resolve() for path, _ in files}
    claimed: dict[Path, Path] = {}
    jobs: list[Job] = []
    early: list[JobResult] = []
    for source, relative in files:
        if single_output is not None:
            output = single_output
        elif out_dir is not None:
            output = out_dir / relative.parent / (relative.stem + suffix)
        else:
            output = source.parent / (source.stem + suffix)
        resolved = output.resolve()
        refusal = None
        if resolved in inputs_resolved:
            refusal = f"{output}: refusing to overwrite an input file"
        elif resolved in claimed:
            refusal = f"{output}: is also the output of {claimed[resolved]} (rename one of them)"
        elif output.is_dir():
            refusal = f"{output}: is a directory"
        elif output.exists() and not force:
            if resume and validate(output):
                claimed[resolved] = source
                early.append(JobResult(str(source), str(output), "skipped", message="already done"))
                continue
            refusal = (f"{output}: exists and is not a valid output (use --force to redo it)" if resume
                       else f"{output}: exists (use --force to overwrite, --resume to skip finished files)")
        if refusal is not None:
            early.append(JobResult(str(source), str(output), "failed", message=refusal))
            continue
        claimed[resolved] = source
        jobs.append(Job(source, output))
    return Plan(jobs, early, len(files))


# --- worker side ----------------------------------------------------------------------------------------

_in_task = False


def _on_sigterm(signum: int, frame: object) -> None:
    # Inside a file: unwind so atomic_write_bytes deletes its temporary file; idle: just leave.
    if _in_task:
        raise KeyboardInterrupt
    os._exit(128 + signum)


def _set_parent_death_signal() -> None:
    """Ask Linux to send SIGTERM when the parent dies (kill -9), so no orphan keeps writing."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() == 1:  # parent already gone before prctl took effect
        os._exit(1)


def _init_worker(threads: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops us with SIGTERM
    signal.signal(signal.SIGTERM, _on_sigterm)
    _set_parent_death_signal()
    # torch reads these when the work function first imports it; a work function without torch never pays
    # for importing it here.
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def run_job(work: WorkFunction, job: Job) -> JobResult:
    """Run one file, turning every failure into a failed result (workers call this; so does the serial path)."""
    global _in_task
    start = time.perf_counter()
    result = JobResult(str(job.source), str(job.output), "failed")
    _in_task = True
    try:
        stats = work(job.source, job.output)  # a missing or unreadable input fails here, with the work's message
        result.bytes_in = job.source.stat().st_size
        result.status, result.bytes_out, result.pixels = "done", stats.bytes_out, stats.pixels
        result.bpp = stats.compressed_bytes * 8 / stats.pixels if stats.pixels else None
        result.message = stats.message
    except SdpicError as exc:
        result.message = str(exc)
    except OSError as exc:  # unreadable input, full disk, permission denied
        result.message = f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
    except MemoryError:
        result.message = "out of memory"
    except Exception as exc:  # a bug for one file must not end a batch of thousands; report it plainly
        result.message = f"unexpected {type(exc).__name__}: {exc}"
    finally:
        _in_task = False
    result.seconds = time.perf_counter() - start
    return result


def _worker_job(work: WorkFunction, job: Job) -> JobResult:
    try:
        return run_job(work, job)
    except KeyboardInterrupt:  # from _on_sigterm: the temporary file is already gone
        os._exit(128 + signal.SIGTERM)


# --- parent side ----------------------------------------------------------------------------------------


def _stop_workers(executor: ProcessPoolExecutor, grace_s: float = 30.0) -> None:
    """SIGTERM every worker, wait for them to clean up, SIGKILL any that hang."""
    processes = list(getattr(executor, "_processes", {}).values())  # no public handle before Python 3.14
    for process in processes:
        if process.is_alive():
            process.terminate()
    deadline = time.monotonic() + grace_s
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join(5)
    executor.shutdown(wait=False, cancel_futures=True)


def _run_parallel(jobs: Sequence[Job], work: WorkFunction, n_jobs: int, threads: int,
                  on_result: Callable[[JobResult], None]) -> None:
    context = multiprocessing.get_context("spawn")  # no fork of a process that may hold torch threads

    def new_executor() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=n_jobs, mp_context=context, initializer=_init_worker,
                                   initargs=(threads,))

    queue = iter(jobs)
    executor = new_executor()
    in_flight: dict[Future, Job] = {}
    # When a worker dies, every file in flight fails with it and the culprit is unknown: each of those files
    # is tried once more, alone in the pool, so only a file that kills its worker twice is reported.
    suspects: deque[Job] = deque()
    retried: set[Job] = set()

    def suspect(job: Job) -> None:
        if job in retried:
            on_result(JobResult(str(job.source), str(job.output), "failed",
                                message="worker process died on this file (killed, or out of memory?)"))
        else:
            retried.add(job)
            suspects.append(job)

    try:
        while True:
            if suspects:
                if not in_flight:
                    job = suspects.popleft()
                    in_flight[executor.submit(_worker_job, work, job)] = job
            else:
                while len(in_flight) < 2 * n_jobs:  # bounded look-ahead: cheap to cancel, memory flat
                    job = next(queue, None)
                    if job is None:
                        break
                    in_flight[executor.submit(_worker_job, work, job)] = job
            if not in_flight:
                break
            finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            lost: list[Job] = []
            for future in finished:
                job = in_flight.pop(future)
                try:
                    on_result(future.result())
                except BrokenProcessPool:
                    lost.append(job)
            if lost:  # the pool is unusable: its other futures fail too
                lost += in_flight.values()
                in_flight.clear()
                executor.shutdown(wait=True, cancel_futures=True)
                # The pool killed its other workers, perhaps mid-write: their temp files have no owner now.
                remove_stale_temp_files(job.output for job in lost)
                for job in lost:
                    suspect(job)
                executor = new_executor()
    except BaseException:
        _stop_workers(executor)
        raise
    executor.shutdown(wait=True)


def run_batch(plan: Plan, work: WorkFunction, *, jobs: int | None, threads: int | None, verb: str,
              verbose: bool = False, report: Path | None = None, show_summary: bool = True,
              stream=None) -> int:
    """Run ``plan`` and print one progress bar and a summary; returns the exit status (0, 1 or 130).

    ``jobs`` None picks one worker per CPU (at most one per two files); 1 runs in this process.
    ``threads`` is torch threads per worker (default 1 when parallel, torch's default when serial).
    """
    stream = stream or sys.stderr
    if jobs is not None and jobs < 1:
        raise ParameterError(f"--jobs must be >= 1, got {jobs}")
    if threads is not None and threads < 1:
        raise ParameterError(f"--threads must be >= 1, got {threads}")
    summary = Summary(planned=plan.planned)
    remove_stale_temp_files(job.output for job in plan.jobs)
    # A worker costs about one photo's work to start (spawn, import torch, load the model), so by default
    # there are at least two files per worker; tiny batches stay in this process.
    n_jobs = min(jobs or min(default_jobs(), len(plan.jobs) // 2), len(plan.jobs))
    n_jobs = max(1, n_jobs)
    single = plan.planned == 1
    bar = tqdm(total=plan.planned, unit="file", file=stream, disable=single, dynamic_ncols=True, smoothing=0.1,
               mininterval=0.5)
    start = time.perf_counter()

    def emit(line: str, error: bool = False) -> None:
        if single and not error:
            print(line)
        else:
            tqdm.write(line, file=stream)

    def on_result(result: JobResult) -> None:
        summary.add(result)
        if result.status == "failed":
            where = "" if result.source in result.message else f"{result.source}: "  # most errors name the file
            emit(f"sdpic: error: {where}{result.message}", error=True)
        elif result.status == "done" and (verbose or single):
            emit(result.message)
        elif result.status == "skipped" and (verbose or single):
            emit(f"{result.source} -> {result.output}: {result.message}")
        bar.update(1)
        elapsed = time.perf_counter() - start
        bar.set_postfix_str(f"{summary.bytes_in / 1e6 / max(elapsed, 1e-9):.2f} MB/s in, {summary.failed} failed",
                            refresh=False)

    try:
        with sigterm_as_interrupt():
            for result in plan.early:
                on_result(result)
            if n_jobs == 1:
                with torch_threads(threads):
                    for job in plan.jobs:
                        on_result(run_job(work, job))
            else:
                _run_parallel(plan.jobs, work, n_jobs, threads or 1, on_result)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        bar.close()
        summary.seconds = time.perf_counter() - start
    if show_summary and not single:
        for line in summary.lines(verb):
            print(f"sdpic: {line}", file=stream)
    if report is not None:
        atomic_write_bytes(report, json.dumps(summary.as_dict(), indent=2).encode() + b"\n")
    if summary.interrupted:
        print("sdpic: interrupted; finished outputs are complete, run again with --resume to go on", file=stream)
        return INTERRUPTED_EXIT
    if summary.failed:
        if single:
            return 1
        print(f"sdpic: {summary.failed} of {summary.planned} file(s) failed", file=stream)
        return 1
    return 0


__all__ = [
    "FileStats",
    "Job",
    "JobResult",
    "Plan",
    "Summary",
    "collect_inputs",
    "default_jobs",
    "make_plan",
    "parse_shard",
    "run_batch",
    "run_job",
]

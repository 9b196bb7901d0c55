"""The ``signwriter`` command line: a thin shell over :mod:`agents.api` and :mod:`qa`.

Exit codes come from the run's status (:mod:`agents.status`): 0 succeeded; 1 an asset
failed or was rejected (``qa``: the check failed); 2 bad input or configuration (the
message names the problem); 3 assets wait for human review; 4 the run stopped early
(resume it); 130 interrupted.

Progress: on a terminal, live bars; otherwise (a log file, cron, CI) one timestamped line
per event, as it happens.
"""

from __future__ import annotations

import functools
import json
import sys
import threading
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import click
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from agents.errors import BriefError, RunStopped, SignwriterError
from agents.settings import Settings
from agents.state import Event
from agents.status import EXIT_BAD_INPUT, AssetStatus, Decision, RunStatus
from generation.errors import BackendError
from qa.errors import QAError

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode="rich",
                  help="signwriter — briefs in, text-verified marketing images out.\n\n"
                       "Plan a brief into a visual spec, generate images (GLM-Image or the "
                       "built-in typeset renderer), check every word with OCR, regenerate or "
                       "repair what is wrong, and queue the rest for human review.")
review_app = typer.Typer(no_args_is_help=True, help="The human review queue.")
app.add_typer(review_app, name="review")
schedule_app = typer.Typer(no_args_is_help=True, help="Cron-scheduled jobs (jobs.yaml).")
app.add_typer(schedule_app, name="schedule")
tokens_app = typer.Typer(no_args_is_help=True, help="Tokens for the /v1 HTTP API.")
app.add_typer(tokens_app, name="tokens")
users_app = typer.Typer(no_args_is_help=True, help="Accounts of the review web app.")
app.add_typer(users_app, name="users")
index_app = typer.Typer(no_args_is_help=True, help="The run index (what the CLI and web app query).")
app.add_typer(index_app, name="index")
db_app = typer.Typer(no_args_is_help=True, help="The database: migrations, checkpoint retention.")
app.add_typer(db_app, name="db")
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks that print figures.")
app.add_typer(bench_app, name="bench")

console = Console(stderr=True, soft_wrap=True)  # messages carry paths: never hard-wrapped
out = Console()

class Runtime(str, Enum):
    """OCR runtimes (see ``SIGNWRITER_OCR_RUNTIME``)."""

    auto = "auto"
    openvino = "openvino"
    openvino_f32 = "openvino-f32"
    onnxruntime = "onnxruntime"


class ReviewPolicyChoice(str, Enum):
    """Review policies (see ``SIGNWRITER_REVIEW_POLICY``)."""

    failures = "failures"
    always = "always"
    never = "never"


class RoleChoice(str, Enum):
    viewer = "viewer"
    reviewer = "reviewer"
    admin = "admin"


STATUS_STYLE = {AssetStatus.ACCEPTED: "green", AssetStatus.NEEDS_REVIEW: "yellow",
                AssetStatus.APPROVED_WITH_FINDINGS: "yellow",
                AssetStatus.FAILED: "red", AssetStatus.REJECTED: "red",
                AssetStatus.RUNNING: "cyan", AssetStatus.PENDING: "dim",
                RunStatus.SUCCEEDED: "green", RunStatus.FAILED: "red",
                RunStatus.STOPPED: "red"}


def _styled(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]"


def _default(name: str) -> str:
    """What an option falls back to: the setting's default, or its env var."""
    field = Settings.model_fields[name]
    default = field.get_default(call_default_factory=True)
    env = f"SIGNWRITER_{name.upper()}"
    return f"{default}, or ${env}" if default is not None else f"${env}, else none"


def _settings(**overrides: Any) -> Settings:
    """Settings from the env/.env, with the command line's options on top (validated)."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**clean)
    except ValidationError as e:
        problems = "; ".join(f"--{'-'.join(map(str, err['loc'])).replace('_', '-')}: "
                             f"{err['msg']}" for err in e.errors())
        _fail(f"invalid option or setting: {problems}")
        raise  # unreachable: _fail exits


MAX_MESSAGE_CHARS = 600
"""Longest error line printed: messages never echo a huge value back."""

_debug = False
"""``--debug``: print the traceback under the one-line message."""


def one_line(message: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``message`` as one printable line of at most ``limit`` characters (no newlines, no
    terminal control sequences; rich markup is escaped when printed)."""
    flat = " ".join(part.strip() for part in str(message).splitlines() if part.strip())
    flat = "".join(c if c.isprintable() else "?" for c in flat)
    return flat if len(flat) <= limit else flat[:limit - 24] + f"… ({len(flat):,} characters)"


def _secrets() -> tuple[str, ...]:
    """The configured keys (cached for as long as the SIGNWRITER_* environment is the same)."""
    import os
    return _secrets_for(tuple(sorted((k, v) for k, v in os.environ.items()
                                     if k.startswith("SIGNWRITER_"))))


@functools.lru_cache(maxsize=8)
def _secrets_for(env: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    try:
        return tuple(Settings().secrets())
    except Exception:  # noqa: BLE001 - broken settings are reported elsewhere
        return ()


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> None:
    from generation.redact import redact
    message = redact(message, _secrets())  # the last line of defence: no key on stderr
    console.print(f"[bold red]error:[/] {escape(one_line(message))}", highlight=False)
    raise typer.Exit(code)


def _message_for(e: BaseException) -> str:
    """The one line a user sees for an error: the file, the field and the fix."""
    import errno

    if isinstance(e, BriefError):
        return f"{e.source}: invalid brief: " + "; ".join(f"{loc}: {msg}"
                                                          for loc, msg in e.problems)
    if isinstance(e, OSError):
        where = f"{e.filename}: " if e.filename else ""
        if e.errno == errno.ENOSPC:
            return (f"{where}the disk is full; free some space (or choose another --out) and "
                    "resume the run with `signwriter resume RUN_ID` (nothing paid for is lost)")
        if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            return f"{where}cannot write here ({e.strerror}); choose a writable --out folder"
        if e.errno == errno.ENAMETOOLONG:
            return f"{where}a file name is too long ({e.strerror}); use shorter names"
        return f"{where}{e.strerror or type(e).__name__}"
    if isinstance(e, RecursionError):
        return "the input is nested too deeply to read"
    if isinstance(e, MemoryError):
        return "out of memory: the input is too large"
    if isinstance(e, ValidationError):
        first = e.errors()[0] if e.errors() else {"loc": (), "msg": str(e)}
        loc = ".".join(str(p) for p in first.get("loc", ()))
        return f"invalid value{' at ' + loc if loc else ''}: {first.get('msg')}"
    return str(e)


def _guard(fn):  # noqa: ANN001 - decorator
    """Every error becomes one clear line and exit code 2, never a traceback (``--debug``
    prints the traceback too). Unexpected errors say so, and that they are a bug."""
    import functools

    if getattr(fn, "_guarded", False):
        return fn

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/] — resume with [bold]signwriter resume RUN_ID[/]")
            raise typer.Exit(130) from None
        except RunStopped as e:
            if _debug:
                console.print_exception()
            _fail(str(e), RunStatus.STOPPED.exit_code)
        except (SignwriterError, BackendError, QAError, OSError, RecursionError, MemoryError,
                ValidationError) as e:
            if _debug:
                console.print_exception()
            _fail(_message_for(e))
        except Exception as e:  # noqa: BLE001 - the guard: no traceback reaches a user
            if _debug:
                console.print_exception()
            _fail(f"internal error ({type(e).__name__}: {one_line(str(e), 200)}); this is a "
                  "bug in signwriter: rerun with --debug and report the traceback")
    wrapper._guarded = True  # type: ignore[attr-defined]
    return wrapper


def _guard_every_command(t: typer.Typer) -> None:
    """Wrap every command of ``t`` and its sub-apps in :func:`_guard`."""
    for c in t.registered_commands:
        c.callback = _guard(c.callback)
    for g in t.registered_groups:
        if g.typer_instance is not None:
            _guard_every_command(g.typer_instance)


@app.callback()
def _options(debug: Annotated[bool, typer.Option("--debug", help="Print the traceback of an "
                                                 "error under its message.")] = False) -> None:
    global _debug
    _debug = debug


class _RunDisplay:
    """Live progress bars per asset and attempt (output on a terminal)."""

    def __init__(self, max_attempts: int) -> None:
        self.progress = Progress(SpinnerColumn(), TextColumn("[bold]{task.fields[asset]}"),
                                 BarColumn(bar_width=20), TextColumn("{task.description}"),
                                 TimeElapsedColumn(), console=console, transient=False)
        self.tasks: dict[str, Any] = {}
        self.max_attempts = max_attempts

    def __enter__(self) -> "_RunDisplay":
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)

    def __call__(self, ev: Event) -> None:
        tid = self.tasks.get(ev.asset_id)
        d = ev.detail
        if tid is None:
            label = (f"{ev.asset_id} {d['width']}x{d['height']}" if ev.kind == "planned"
                     else ev.asset_id)
            tid = self.tasks[ev.asset_id] = self.progress.add_task(
                "planned", asset=label, total=self.max_attempts)
        if ev.kind == "generating":
            self.progress.update(tid, description=f"attempt {ev.attempt}: {d.get('action')}…")
        elif ev.kind == "generated":
            self.progress.update(tid, description=f"attempt {ev.attempt}: OCR check…")
        elif ev.kind == "checked":
            self.progress.update(tid, completed=ev.attempt,
                                 description=f"attempt {ev.attempt}: "
                                             f"{'[green]pass' if d['passed'] else '[red]fail'}[/]")
        elif ev.kind == "decided" and d["action"] != "accept":
            self.progress.update(tid, description=f"attempt {ev.attempt}: {d['action']}")
        elif ev.kind == "done":
            self.progress.update(tid, completed=self.max_attempts,
                                 description=_styled(d.get("status", "")))


def event_line(ev: Event) -> str:
    """One event as one log line: UTC timestamp, asset, attempt, what happened."""
    d = ev.detail
    when = datetime.fromtimestamp(ev.at).astimezone().isoformat(timespec="seconds")
    where = ev.asset_id + (f" attempt {ev.attempt}" if ev.attempt else "")
    if ev.kind == "planned":
        what = f"planned {d.get('width')}x{d.get('height')}, {d.get('regions')} regions"
    elif ev.kind == "generating":
        what = f"{d.get('action', 'generate')} started"
    elif ev.kind == "generated":
        what = f"image ready (${d.get('cost_usd', 0.0):.4f})"
    elif ev.kind == "checked":
        what = f"QA {'pass' if d.get('passed') else 'FAIL'} (score {d.get('score', 0):.3f})"
    elif ev.kind == "decided":
        what = f"decision {d.get('action')}: {d.get('why', '')}".rstrip(": ")
    elif ev.kind == "done":
        what = f"status {d.get('status')}" + (f" ({d['decision']})" if d.get("decision") else "")
        what += f": {d['reason']}" if d.get("reason") else ""
    else:
        what = ev.kind
    return f"{when} {where}: {what}"


class _EventLines:
    """Progress for logs: one timestamped line per event, written (and flushed) at once."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self._lock = threading.Lock()

    def __enter__(self) -> "_EventLines":
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def __call__(self, ev: Event) -> None:
        with self._lock:
            self.stream.write(event_line(ev) + "\n")
            self.stream.flush()


def _progress(max_attempts: int, json_out: bool) -> _RunDisplay | _EventLines:
    """Bars on a terminal; otherwise lines on stdout (stderr when stdout carries JSON)."""
    if out.is_terminal and not json_out:
        return _RunDisplay(max_attempts)
    return _EventLines(sys.stderr if json_out else sys.stdout)


def _summary(manifest: dict[str, Any]) -> None:
    t = Table(title=f"run {manifest['run_id']} — {manifest['status']}", title_justify="left")
    for col in ("asset", "size", "status", "attempts", "final image / reason"):
        t.add_column(col)
    for a in manifest["assets"]:
        detail = a.get("final_image") or a.get("reason") or ""
        t.add_row(escape(a["asset_id"]), f"{a['width']}x{a['height']}", _styled(a["status"]),
                  str(len(a["attempts"])), escape(one_line(detail, 300)))
    out.print(t)
    if manifest.get("cost_usd"):
        out.print(f"cost: ${manifest['cost_usd']:.4f}")


@app.command()
@_guard
def run(
    brief: Annotated[Path, typer.Argument(help="Brief file (YAML or JSON).")],
    backend: Annotated[Optional[str], typer.Option(help="Image backend (see `signwriter backends`).", show_default=_default("backend"))] = None,
    planner: Annotated[Optional[str], typer.Option(help="auto | rules | llm.", show_default=_default("planner"))] = None,
    max_attempts: Annotated[Optional[int], typer.Option(min=1, max=20, help="Attempts per asset before human review.", show_default=_default("max_attempts"))] = None,
    simulate_errors: Annotated[Optional[float], typer.Option(min=0.0, max=1.0, help="Chance of an injected GLM-Image-like text error per attempt (backends that simulate errors: the built-in renderer).", show_default=_default("simulate_errors"))] = None,
    max_cost: Annotated[Optional[float], typer.Option(min=0.0, help="Run budget in USD; never exceeded.", show_default=_default("max_cost"))] = None,
    concurrency: Annotated[Optional[int], typer.Option(min=1, max=64, help="Generations in flight at once.", show_default=_default("concurrency"))] = None,
    seed: Annotated[Optional[int], typer.Option(help="Base seed.", show_default="from the clock")] = None,
    review: Annotated[Optional[ReviewPolicyChoice], typer.Option(help="Who sees an asset before it is final: failures (what QA could not accept), always, never.", show_default="the brief's `review:`, else failures")] = None,
    out_dir: Annotated[Optional[Path], typer.Option("--out", help="Runs folder.", show_default=_default("runs_dir"))] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON (progress lines go to stderr).")] = False,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="With workers (SIGNWRITER_BROKER_URL): enqueue, print the job id and exit.")] = False,
) -> None:
    """Plan a brief, generate every format, OCR-check it, retry what is wrong.

    With SIGNWRITER_BROKER_URL and a PostgreSQL SIGNWRITER_DATABASE_URL, the assets are
    queued for `signwriter worker` processes; the command waits and prints the same
    summary (--no-wait: the job id)."""
    from agents.api import start_run
    s = _settings(backend=backend, planner=planner, max_attempts=max_attempts,
                  simulate_errors=simulate_errors, max_cost=max_cost, concurrency=concurrency,
                  runs_dir=out_dir, review_policy=review.value if review else None)
    if no_wait and not s.cluster:
        _fail("--no-wait needs workers: set SIGNWRITER_BROKER_URL and a PostgreSQL "
              "SIGNWRITER_DATABASE_URL")
    with _progress(s.max_attempts, json_out) as progress:
        if s.cluster:
            result = _run_on_workers(brief, s, progress, seed, no_wait)
        else:
            result = start_run(brief, s, on_event=progress, seed=seed)
    _finish(result, json_out)


def _run_on_workers(brief: Path, s: Settings, progress: Any, seed: int | None,
                    no_wait: bool) -> Any:
    """Plan here, queue every asset for the workers, wait (or print the job id)."""
    from agents.api import RunResult, create_run, read_manifest
    from agents.workers import jobs
    created = create_run(brief, s, seed=seed, on_event=progress)
    assets = [a["asset_id"] for a in created.manifest["assets"]]
    job_id = jobs.enqueue(s, "run", [(created.run_id, a) for a in assets],
                          max_cost=s.max_cost, request={"brief": str(brief)})
    if no_wait:
        console.print(f"queued run {created.run_id} for the workers", highlight=False)
        print(job_id, flush=True)
        raise typer.Exit(0)
    jobs.wait(s, job_id, on_item=lambda r: progress(Event(
        "done", r["asset_id"], detail={"status": r["outcome"] or ""})))
    return RunResult(created.run_id, created.run_dir, read_manifest(created.run_id, s))


def _finish(result: Any, json_out: bool) -> None:
    if json_out:
        out.print_json(json.dumps(result.manifest, ensure_ascii=False))
    else:
        _summary(result.manifest)
        out.print(f"run folder: {result.run_dir}  (final images, QA reports and overlays; "
                  f"manifest.json)")
        if result.status is RunStatus.NEEDS_REVIEW:
            out.print("Some assets wait for review: [bold]signwriter review list[/]")
    raise typer.Exit(result.status.exit_code)


@app.command()
@_guard
def resume(run_id: Annotated[str, typer.Argument(help="Run id (folder name under runs/).")],
           out_dir: Annotated[Optional[Path], typer.Option("--out", help="Runs folder.", show_default=_default("runs_dir"))] = None,
           json_out: Annotated[bool, typer.Option("--json")] = False,
           wait: Annotated[bool, typer.Option("--wait", help="If another process holds the run, wait for it instead of exiting with 2.")] = False) -> None:
    """Continue a run that was stopped or crashed; finished attempts are never redone."""
    from agents.api import resume_run
    s = _settings(runs_dir=out_dir)
    with _progress(s.max_attempts, json_out) as progress:
        result = resume_run(run_id, s, on_event=progress, wait=wait, on_wait=_waiting)
    _finish(result, json_out)


def _waiting(owner: dict[str, Any] | None) -> None:
    o = owner or {}
    console.print(f"waiting for pid {o.get('pid', '?')} on {escape(str(o.get('host', '?')))} "
                  f"({escape(str(o.get('command', '?')))}, since {o.get('since_iso', '?')}) "
                  "to finish with the run…", highlight=False)


@app.command()
@_guard
def batch(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="Brief files and folders of briefs.", show_default=False)] = None,
    brief: Annotated[Optional[Path], typer.Option("--brief", help="Base brief that each --csv row fills.")] = None,
    csv_file: Annotated[Optional[Path], typer.Option("--csv", help="Rows: columns named after the base brief's copy items, plus formats, language, name.")] = None,
    backend: Annotated[Optional[str], typer.Option(help="Image backend.", show_default=_default("backend"))] = None,
    planner: Annotated[Optional[str], typer.Option(help="auto | rules | llm.", show_default=_default("planner"))] = None,
    max_attempts: Annotated[Optional[int], typer.Option(min=1, max=20, help="Attempts per asset before review.", show_default=_default("max_attempts"))] = None,
    simulate_errors: Annotated[Optional[float], typer.Option(min=0.0, max=1.0, help="typeset: chance of an injected text error per attempt.", show_default=_default("simulate_errors"))] = None,
    max_cost: Annotated[Optional[float], typer.Option(min=0.0, help="Budget in USD for the whole batch; never exceeded.", show_default=_default("max_cost"))] = None,
    max_attempts_total: Annotated[Optional[int], typer.Option(min=1, help="Most generation attempts for the whole batch.", show_default="no cap")] = None,
    concurrency: Annotated[Optional[int], typer.Option(min=1, max=64, help="Generations in flight at once.", show_default=_default("concurrency"))] = None,
    review: Annotated[Optional[ReviewPolicyChoice], typer.Option(help="Who sees an asset before it is final: failures, always, never.", show_default="each brief's `review:`, else failures")] = None,
    seed: Annotated[int, typer.Option(help="Base seed (part of each asset's idempotency key).")] = 0,
    out_dir: Annotated[Optional[Path], typer.Option("--out", help="Runs folder.", show_default=_default("runs_dir"))] = None,
    report: Annotated[Optional[Path], typer.Option(help="Folder for report.html and report.json.", show_default="RUNS/_batches/BATCH_ID")] = None,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="With workers (SIGNWRITER_BROKER_URL): enqueue, print the job id and exit.")] = False,
) -> None:
    """Many assets at once: brief files/folders, or CSV rows filling a base brief.

    Each asset (brief x format) runs once: running the same batch again skips what is
    accepted or in review, continues what was cut short and retries what failed. Bad rows are
    reported with their row number and skipped. Exit 0 all accepted, 3 some wait for review,
    1 failures, 2 bad input; the last line reads
    `generated N, skipped M, accepted A, review R, failed F`."""
    from agents.automation.batch import collect_csv, collect_paths, run_batch, write_report
    if (csv_file is None) != (brief is None):
        _fail("--csv and --brief go together: --brief BASE.yaml --csv ROWS.csv")
    if bool(paths) == (csv_file is not None):
        _fail("give brief files/folders, or --brief BASE.yaml --csv ROWS.csv (not both)")
    s = _settings(backend=backend, planner=planner, max_attempts=max_attempts,
                  simulate_errors=simulate_errors, max_cost=max_cost, concurrency=concurrency,
                  runs_dir=out_dir, review_policy=review.value if review else None)
    if csv_file is not None and brief is not None:
        items, bad = collect_csv(brief, csv_file, s, seed=seed)
    else:
        items, bad = collect_paths(list(paths or []), s, seed=seed)
    for b in bad:
        console.print(f"[yellow]skipped[/] {escape(one_line(b.line()))}", highlight=False)
    if no_wait and not s.cluster:
        _fail("--no-wait needs workers: set SIGNWRITER_BROKER_URL and a PostgreSQL "
              "SIGNWRITER_DATABASE_URL")
    if no_wait:
        from agents.automation.batch import enqueue_batch
        job_id, queued, known = enqueue_batch(items, bad, s,
                                              max_attempts_total=max_attempts_total)
        console.print(f"queued {len(queued)} asset(s) for the workers ({len(known)} skipped "
                      "or invalid)", highlight=False)
        print(job_id or "nothing to run", flush=True)
        raise typer.Exit(0)
    with _batch_progress(len(items)) as on_item:
        result = run_batch(items, bad, s, max_attempts_total=max_attempts_total,
                           on_item=on_item)  # with workers configured: queued for them
    for it in result.items:
        if it.outcome == "invalid":
            where = it.source + (f" row {it.row}" if it.row is not None else "")
            console.print(f"[yellow]skipped[/] {escape(one_line(f'{where} {it.format}: {it.reason}'))}",
                          highlight=False)
    folder = write_report(result, s, report)
    from agents.automation.webhooks import deliver_pending, record_batch_events
    if record_batch_events(result, s):
        sent = deliver_pending(s)
        print(f"webhooks: {sent['delivered']} delivered, {sent['retry']} to retry "
              "(signwriter schedule run delivers retries)")
    counts = {}
    for it in result.items:
        counts[it.outcome] = counts.get(it.outcome, 0) + 1
    print(f"batch {result.batch_id}: {len(result.items)} assets "
          f"({', '.join(f'{v} {k}' for k, v in sorted(counts.items())) or 'none'}), "
          f"{len(result.bad)} bad input{'s' if len(result.bad) != 1 else ''}, "
          f"cost ${result.cost_usd:.4f}, {result.wall_s:.1f}s")
    print(f"report: {folder / 'report.html'} (and report.json)")
    print(result.summary_line(), flush=True)
    raise typer.Exit(result.exit_code)


class _batch_progress:
    """A bar with counts and ETA on a terminal; one plain line per finished asset otherwise."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.counts: dict[str, int] = {}
        self.bar: Progress | None = None

    def __enter__(self) -> Any:
        if out.is_terminal:
            from rich.progress import MofNCompleteColumn, TimeRemainingColumn
            self.bar = Progress(TextColumn("[bold]batch"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.description}"), TimeElapsedColumn(),
                                TextColumn("ETA"), TimeRemainingColumn(), console=console)
            self.bar.__enter__()
            self.task = self.bar.add_task("", total=self.total)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def __call__(self, r: Any, done: int, total: int) -> None:
        self.counts[r.outcome] = self.counts.get(r.outcome, 0) + 1
        desc = ", ".join(f"{v} {k}" for k, v in sorted(self.counts.items()))
        if self.bar is not None:
            self.bar.update(self.task, completed=done, description=desc)
            return
        when = datetime.now().astimezone().isoformat(timespec="seconds")
        where = r.source + (f" row {r.row}" if r.row is not None else "")
        print(f"{when} [{done}/{total}] {where} {r.format}: {r.outcome} ({r.action}"
              + (f", ${r.cost_usd:.4f}" if r.cost_usd else "") + ")"
              + (f": {one_line(r.reason, 200)}" if r.reason and r.outcome != "accepted" else ""),
              flush=True)


class TokenRole(str, Enum):
    """What a /v1 token may do."""

    viewer = "viewer"
    creator = "creator"
    reviewer = "reviewer"
    admin = "admin"


@tokens_app.command("create")
@_guard
def tokens_create(
    name: Annotated[str, typer.Argument(help="Who or what uses it (unique).")],
    role: Annotated[TokenRole, typer.Option(help="viewer reads; creator also posts jobs; reviewer also decides; admin all.")] = TokenRole.viewer,
    out_dir: Annotated[Optional[Path], typer.Option("--out", help="Runs folder.", show_default=_default("runs_dir"))] = None,
) -> None:
    """Create an API token and print it (only it, on stdout) once; only its hash is kept."""
    from agents.automation.jobs import create_token
    token = create_token(name, role.value, _settings(runs_dir=out_dir))
    print(token)
    console.print(f"token {escape(name)} ({role.value}) created: store it now; it is not shown "
                  "again. Send it as Authorization: Bearer …", highlight=False)


@tokens_app.command("list")
@_guard
def tokens_list(out_dir: Annotated[Optional[Path], typer.Option("--out", help="Runs folder.")] = None) -> None:
    """API tokens (names, roles, when made or revoked; never the tokens)."""
    from agents.automation.jobs import list_tokens
    for t in list_tokens(_settings(runs_dir=out_dir)):
        state = "revoked" if t["revoked_at"] else "active"
        print(f"{t['name']}\t{t['role']}\t{state}\t"
              f"{datetime.fromtimestamp(t['created_at']).astimezone().isoformat(timespec='seconds')}")


@tokens_app.command("revoke")
@_guard
def tokens_revoke(name: str, out_dir: Annotated[Optional[Path], typer.Option("--out", help="Runs folder.")] = None) -> None:
    """Revoke a token: it is refused from now on."""
    from agents.automation.jobs import revoke_token
    if not revoke_token(name, _settings(runs_dir=out_dir)):
        _fail(f"no active token named {name!r}")
    print(f"revoked {name}")


@schedule_app.command("run")
@_guard
def schedule_run(
    jobs: Annotated[Path, typer.Argument(help="jobs.yaml: named jobs with cron, timezone, inputs.")],
    once: Annotated[bool, typer.Option("--once", help="Fire what is due now, deliver webhooks, and exit (for cron/systemd timers).")] = False,
    out_dir: Annotated[Optional[Path], typer.Option("--out", help="Runs folder.", show_default=_default("runs_dir"))] = None,
) -> None:
    """Fire each job's ticks, each exactly once across restarts (missed ticks: the latest
    runs once if within the job's grace); runs until stopped."""
    from agents.automation.schedule import Scheduler, load_jobs
    from agents.automation.webhooks import deliver_pending
    s = _settings(runs_dir=out_dir)
    scheduler = Scheduler(load_jobs(jobs), s)

    def show(f: tuple[str, str, str]) -> None:
        print(f"{datetime.now().astimezone().isoformat(timespec='seconds')} {f[0]} tick "
              f"{f[1]}: {f[2]}", flush=True)

    if once:
        for f in scheduler.run_pending():
            show(f)
        deliver_pending(s)
        return
    print(f"scheduler {scheduler.owner}: {len(scheduler.jobs)} job(s); Ctrl-C stops", flush=True)
    scheduler.run_forever(on_fired=show)


@schedule_app.command("list")
@_guard
def schedule_list(
    jobs: Annotated[Path, typer.Argument(help="jobs.yaml")],
    history_n: Annotated[int, typer.Option("--history", min=0, help="Past ticks shown per job.")] = 5,
    out_dir: Annotated[Optional[Path], typer.Option("--out", help="Runs folder.", show_default=_default("runs_dir"))] = None,
) -> None:
    """Each job's next runs (in its zone and UTC) and its latest ticks."""
    from datetime import timezone as tz

    from agents.automation.schedule import history, load_jobs
    s = _settings(runs_dir=out_dir)
    now = datetime.now(tz.utc)
    for job in load_jobs(jobs):
        print(f"{job.name}: '{job.cron}' {job.timezone}")
        for t in job.next_ticks(now, 3):
            print(f"  next {t.isoformat()}  ({t.astimezone(tz.utc).isoformat()})")
        for h in history(s, job.name, history_n):
            result = json.loads(h["result"]) if h["result"] else {}
            print(f"  tick {h['tick']} {h['status']}"
                  + (f": {result.get('summary') or result.get('error')}" if result else ""))


@app.command()
@_guard
def plan(brief: Annotated[Path, typer.Argument(help="Brief file (YAML or JSON).")],
         planner: Annotated[Optional[str], typer.Option(help="auto | rules | llm.")] = None) -> None:
    """Print the visual spec (JSON) the planner makes of a brief; nothing is generated."""
    from agents.api import plan_brief
    from agents.brief import load_brief
    settings = _settings(planner=planner)
    specs = plan_brief(load_brief(brief, settings), settings)
    out.print_json(json.dumps([s.model_dump(mode="json") for s in specs], ensure_ascii=False))


@app.command()
def qa(
    image: Annotated[Path, typer.Argument(help="Image to check (PNG/JPEG/WebP).")],
    spec: Annotated[Optional[Path], typer.Option(help="VisualSpec JSON (from `signwriter plan` or a run's specs/).")] = None,
    expect: Annotated[Optional[list[str]], typer.Option(help="A string that must appear (repeatable); location not judged.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print every finding as JSON.")] = False,
    overlay: Annotated[Optional[Path], typer.Option(help="Write an overlay PNG here.")] = None,
    no_extra: Annotated[bool, typer.Option("--no-extra", help="With --expect: also fail when the image has any other text (a spec always does); the expected text drawn again at its size, apart from itself, is listed as a repeat.")] = False,
    lang: Annotated[Optional[str], typer.Option("--lang", help="Language of the --expect strings (en, zh, zh-Hant, ja, ko, …); one no installed OCR judge reads is refused.")] = None,
    ignore_case: Annotated[bool, typer.Option("--ignore-case", help="Do not judge letter case (overrides a spec's case: exact); the report says so.")] = False,
    ignore_punctuation: Annotated[bool, typer.Option("--ignore-punctuation", help="Do not judge punctuation (a decimal point between digits still counts); the report says so.")] = False,
) -> None:
    """Check any image's text: against a spec, or for --expect strings. Exit 0 pass, 1 fail, 2 bad input."""
    from qa.check import check_image
    from qa.errors import QAError
    from qa.image import load_image
    from qa.models import ExpectedText
    from qa.report import render_overlay
    if (spec is None) == (not expect):
        _fail("give either --spec SPEC.json or one or more --expect TEXT")
    from qa.scripts import UnsupportedLanguage, require_language
    if lang is not None:
        if spec is not None:
            _fail("--lang is for --expect strings; a spec names its own languages")
        try:
            require_language(lang)
        except UnsupportedLanguage as e:
            _fail(str(e))
    settings = _settings()
    try:  # refused before decoding: not a file, too large, animated, a bomb, too thin
        pixels = load_image(image, max_pixels=settings.max_image_pixels)
    except QAError as e:
        _fail(str(e))
    expected: list[ExpectedText]
    if spec is not None:
        from agents.nodes import expected_texts
        from agents.paths import read_limited
        from agents.spec import VisualSpec
        try:
            data = json.loads(read_limited(spec, what="spec", max_bytes=5_000_000))
            if isinstance(data, list):  # output of `signwriter plan`: pick by image size
                size = (pixels.shape[1], pixels.shape[0])
                match = [d for d in data if isinstance(d, dict)
                         and (d.get("width"), d.get("height")) == size]
                if not match:
                    _fail(f"{spec}: no spec in the list is {size[0]}x{size[1]} like the image")
                data = match[0]
            vs = VisualSpec.model_validate(data)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
            _fail(f"{spec}: not a valid spec: {type(e).__name__}: {one_line(str(e), 200)}")
        except ValidationError as e:
            _fail(f"{spec}: not a valid spec: " + "; ".join(
                f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors()[:5]))
        except SignwriterError as e:
            _fail(f"{spec}: {e}")
        expected = expected_texts(vs)
        try:
            for code in {vs.language, *(e.language for e in expected)}:
                require_language(code)
        except UnsupportedLanguage as e:
            _fail(f"{spec}: {e}")
    else:
        texts = list(expect or [])
        if len(texts) > settings.brief_max_copy_items:
            _fail(f"--expect given {len(texts)} times; at most {settings.brief_max_copy_items} "
                  "(SIGNWRITER_BRIEF_MAX_COPY_ITEMS)")
        for t in texts:
            if len(t) > settings.brief_max_copy_chars or not t.strip() or any(
                    not (c.isprintable() or c in "\n\t") for c in t):
                _fail(f"--expect {one_line(repr(t), 60)}: give printable text of 1 to "
                      f"{settings.brief_max_copy_chars} characters")
        expected = [ExpectedText(id=f"expect{i + 1}", text=t, language=lang or "en")
                    for i, t in enumerate(texts)]
    if ignore_case or ignore_punctuation:
        lenient = {"case": False} if ignore_case else {}
        lenient |= {"punctuation": False} if ignore_punctuation else {}
        expected = [e.model_copy(update={"strictness": e.strictness.model_copy(update=lenient)})
                    for e in expected]
    try:
        from agents.api import ocr_recheck_reader, ocr_reader
        report = check_image(image, expected, reader=ocr_reader(settings),
                             recheck=ocr_recheck_reader(settings), pixels=pixels)
        if spec is None and not no_extra:  # --expect: other text is reported, not a failure
            report = report.model_copy(update={
                "passed": all(f.kind == "ok" for f in report.regions), "review": False})
        if overlay:
            render_overlay(image, report, overlay, pixels=pixels)
    except QAError as e:
        _fail(str(e))
    if json_out:
        out.print_json(report.model_dump_json())
    else:
        t = Table(title=f"{escape(str(image))} — {_VERDICT[report.verdict]}[/]",
                  title_justify="left")
        for col in ("region", "finding", "expected", "read", "note"):
            t.add_column(col)
        for f in report.regions + report.unexpected + report.repeats:
            style = "green" if f.kind == "ok" else "dim" if f.kind == "repeat" else "red"
            t.add_row(escape(f.region_id or "—"), f"[{style}]{f.kind}[/]",
                      escape(one_line(f.expected or "", 300)), escape(one_line(f.read or "", 300)),
                      escape(one_line(f.note, 300)))
        out.print(t)
        for line in report.not_judged:
            out.print(f"not judged: {escape(line)}")
        out.print(f"word accuracy {report.word_accuracy:.3f}  NED {report.ned:.3f}  "
                  f"{report.elapsed_s:.2f}s")
    raise typer.Exit(0 if report.passed else 1)


_VERDICT = {"pass": "[green]PASS", "review": "[yellow]REVIEW (copy verified; other text for "
            "a person to judge)", "fail": "[red]FAIL"}


@review_app.command("list")
@_guard
def review_list(out_dir: Annotated[Optional[Path], typer.Option("--out", help="Runs folder.")] = None,
                run_id: Annotated[Optional[str], typer.Option("--run", help="Only this run.")] = None,
                verdict: Annotated[Optional[str], typer.Option(help="passed | failed (QA's verdict).")] = None,
                json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Assets waiting for a person (from the run index), oldest first."""
    import time as _time

    from agents.api import list_reviews
    if verdict not in (None, "passed", "failed"):
        _fail(f"--verdict {verdict!r}: use passed or failed")
    items = list_reviews(_settings(runs_dir=out_dir), run_id=run_id, verdict=verdict)
    if json_out:
        out.print_json(json.dumps([i.model_dump(mode="json") for i in items],
                                  ensure_ascii=False))
        return
    if not items:
        out.print("Nothing waits for review.")
        return
    out.print(f"[bold]{len(items)} waiting for review[/] (decide: signwriter review approve "
              f"RUN ASSET …)", highlight=False)
    for i in items:  # ids on a line of their own: never cut at 80 columns
        age = max(0, int(_time.time() - (i.updated or _time.time())))
        verdict_word = "[green]QA passed[/]" if i.passed else "[red]QA failed[/]"
        out.print(f"\n[bold]{escape(i.run_id)} {escape(i.asset_id)}[/]", highlight=False,
                  soft_wrap=True)
        out.print(f"  {verdict_word} · best attempt {i.best_attempt} of {i.attempt_count} · "
                  f"{i.width}x{i.height} {escape(i.language or '')} · waiting {_age(age)}",
                  highlight=False)
        if i.reason:
            out.print(f"  {one_line(i.reason, 300)}", highlight=False, markup=False)
        if i.overlay:
            out.print(f"  overlay: {i.overlay}", highlight=False, markup=False, soft_wrap=True)


def _age(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h" if seconds < 172800 else f"{seconds // 86400}d"


def _reviewer(name: Optional[str]) -> str:
    if name:
        return name
    import getpass
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container)
        return "cli"


def _decide(decision: Decision, run_id: str, asset_id: str, out_dir: Optional[Path],
            reviewer: Optional[str], **answer: Any) -> None:
    """Decide: exit 0 when the decision was applied (the run's status is printed); 2 when
    it does not apply, is invalid (the asset stays reviewable) or came second."""
    from agents.api import decide_review
    wait = bool(answer.pop("wait", False))
    s = _settings(runs_dir=out_dir)
    result = decide_review(run_id, asset_id, decision, s, reviewer=_reviewer(reviewer),
                           wait=wait, on_wait=_waiting, **answer)
    if s.webhook_url:
        from agents.automation.webhooks import deliver_pending
        deliver_pending(s)  # asset.approved / asset.rejected (retries: schedule run)
    a = next(x for x in result.manifest["assets"] if x["asset_id"] == asset_id)
    out.print(f"{run_id}/{asset_id}: {_styled(a['status'])}"
              + (f" → {result.run_dir / a['final_image']}" if a.get("final_image") else "")
              + f" (run: {_styled(result.status)})", highlight=False)
    if a["status"] in (AssetStatus.NEEDS_REVIEW, AssetStatus.APPROVED_WITH_FINDINGS):
        out.print(f"  {escape(one_line(a.get('reason') or '', 300))}", highlight=False)


_Out = Annotated[Optional[Path], typer.Option("--out", help="Runs folder.")]
_Reviewer = Annotated[Optional[str], typer.Option(help="Who decided (default: your login name).")]
_Wait = Annotated[bool, typer.Option("--wait", help="If another process holds the run, wait for it instead of exiting with 2.")]


@review_app.command("approve")
@_guard
def review_approve(run_id: str, asset_id: str,
                   attempt: Annotated[Optional[int], typer.Option(help="Approve this attempt instead of the best one.")] = None,
                   note: Annotated[Optional[str], typer.Option(help="A note kept with the decision.")] = None,
                   reviewer: _Reviewer = None, out_dir: _Out = None, wait: _Wait = False) -> None:
    """Approve an asset (its best attempt, or --attempt N) as final."""
    _decide(Decision.APPROVE, run_id, asset_id, out_dir, reviewer, attempt=attempt, note=note,
            wait=wait)


@review_app.command("reject")
@_guard
def review_reject(run_id: str, asset_id: str,
                  note: Annotated[Optional[str], typer.Option(help="Why it was rejected (required).")] = None,
                  reviewer: _Reviewer = None, out_dir: _Out = None, wait: _Wait = False) -> None:
    """Reject an asset, with the reason."""
    _decide(Decision.REJECT, run_id, asset_id, out_dir, reviewer, note=note, wait=wait)


@review_app.command("edit")
@_guard
def review_edit(run_id: str, asset_id: str,
                region: Annotated[str, typer.Option(help="The text region to change (e.g. headline).")],
                text: Annotated[str, typer.Option(help="Its new text.")],
                reviewer: _Reviewer = None, out_dir: _Out = None, wait: _Wait = False) -> None:
    """Change a region's text and generate the asset again (then QA checks it)."""
    _decide(Decision.EDIT, run_id, asset_id, out_dir, reviewer, region=region, text=text,
            wait=wait)


@review_app.command("regenerate")
@_guard
def review_regenerate(run_id: str, asset_id: str,
                      note: Annotated[Optional[str], typer.Option(help="What to change; added to the prompt.")] = None,
                      reviewer: _Reviewer = None, out_dir: _Out = None,
                      wait: _Wait = False) -> None:
    """Generate the asset again, with your note added to the prompt."""
    _decide(Decision.REGENERATE, run_id, asset_id, out_dir, reviewer, note=note, wait=wait)


@review_app.command("repair")
@_guard
def review_repair(run_id: str, asset_id: str,
                  region: Annotated[str, typer.Option(help="The text region to repair.")],
                  attempt: Annotated[Optional[int], typer.Option(help="The attempt to repair (default the best).")] = None,
                  reviewer: _Reviewer = None, out_dir: _Out = None, wait: _Wait = False) -> None:
    """Repair one region of an attempt (an image edit; backends that can edit)."""
    _decide(Decision.REPAIR, run_id, asset_id, out_dir, reviewer, region=region, attempt=attempt,
            wait=wait)


@review_app.command("history")
@_guard
def review_history(run_id: Annotated[Optional[str], typer.Argument(help="Only this run.")] = None,
                   asset_id: Annotated[Optional[str], typer.Argument(help="Only this asset.")] = None,
                   out_dir: _Out = None,
                   json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The audit: who decided what, when, on which attempt, and why."""
    import datetime as _dt

    from agents.api import decisions
    rows = decisions(_settings(runs_dir=out_dir), run_id, asset_id)
    if json_out:
        out.print_json(json.dumps(rows, ensure_ascii=False))
        return
    for d in rows:
        when = _dt.datetime.fromtimestamp(d["created"], _dt.timezone.utc)
        what = d["decision"] + (f" attempt {d['attempt']}" if d.get("attempt") else "") + (
            f" '{d['region']}'" if d.get("region") else "") + (
            f" → '{d['text']}'" if d.get("text") else "")
        out.print(f"{when:%Y-%m-%d %H:%M:%S} {d['run_id']} {d['asset_id']}\n  {d['reviewer']} "
                  f"({d['via']}): {what}" + (f" — {d['note']}" if d.get("note") else "")
                  + (f" [{d['outcome']}]" if d.get("outcome") else " [not applied yet]"),
                  highlight=False, markup=False)
    if not rows:
        out.print("No decisions yet.")


@app.command()
def runs(out_dir: Annotated[Optional[Path], typer.Option("--out", help="Runs folder.")] = None) -> None:
    """List runs and their status."""
    from agents.api import list_runs
    s = _settings(runs_dir=out_dir)
    t = Table(title=f"runs in {s.runs_dir}", title_justify="left")
    for col in ("run", "status", "assets", "cost"):
        t.add_column(col)
    for r in list_runs(s):
        t.add_row(escape(r.run_id), _styled(r.status),
                  ", ".join(f"{v} {k}" for k, v in r.assets.items()), f"${r.cost_usd:.4f}")
    out.print(t)


@app.command()
@_guard
def serve(host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
          port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 8765,
          out_dir: _Out = None) -> None:
    """The review web app: queue, asset pages, decisions, runs, audit."""
    import uvicorn

    from agents.web.app import create_app
    settings = _settings(runs_dir=out_dir)
    application = create_app(settings)
    if not application.state.index.users():
        console.print("[yellow]no accounts yet:[/] add one with [bold]signwriter users add NAME "
                      "--role reviewer --password-stdin[/]", highlight=False)
    console.print(f"signwriter review on http://{host}:{port}/", highlight=False)

    def finish() -> None:  # decisions a crashed server or CLI stored but did not apply
        from agents.api import finish_decisions
        try:
            for item in finish_decisions(settings, older_than_s=60):
                console.print(f"finished the decision on {item}", highlight=False)
        except (SignwriterError, OSError) as e:
            console.print(f"[yellow]could not finish stored decisions:[/] "
                          f"{escape(one_line(str(e)))}", highlight=False)

    threading.Thread(target=finish, name="finish-decisions", daemon=True).start()
    uvicorn.run(application, host=host, port=port, log_level="warning", proxy_headers=True,
                server_header=False)


@users_app.command("add")
@_guard
def users_add(name: str,
              role: Annotated[RoleChoice, typer.Option(help="viewer | reviewer | admin.")] = RoleChoice.reviewer,
              password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from standard input (the only way: never on the command line).")] = False,
              out_dir: _Out = None) -> None:
    """Add an account (the password is read from stdin and stored as an argon2 hash)."""
    from agents.accounts import add_user
    from agents.index import Index
    if not password_stdin:
        _fail("give --password-stdin and the password on standard input, e.g. "
              "`printf %s \"$PW\" | signwriter users add ana --role reviewer --password-stdin`")
    password = sys.stdin.readline().rstrip("\r\n")
    add_user(Index.for_settings(_settings(runs_dir=out_dir)), name, role.value, password)
    out.print(f"added {name} ({role.value})", highlight=False)


@users_app.command("list")
@_guard
def users_list(out_dir: _Out = None,
               json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Accounts and their roles."""
    from agents.index import Index
    users = Index.for_settings(_settings(runs_dir=out_dir)).users()
    if json_out:
        out.print_json(json.dumps(users))
        return
    for u in users:
        out.print(f"{u['name']}\t{u['role']}", highlight=False, markup=False)
    if not users:
        out.print("No accounts.")


@users_app.command("remove")
@_guard
def users_remove(name: str, out_dir: _Out = None) -> None:
    """Remove an account and end its sessions (its decisions stay in the audit)."""
    from agents.accounts import remove_user
    from agents.index import Index
    remove_user(Index.for_settings(_settings(runs_dir=out_dir)), name)
    out.print(f"removed {name}", highlight=False)


@index_app.command("rebuild")
@_guard
def index_rebuild(out_dir: _Out = None) -> None:
    """Fill the run index from every run folder (after an upgrade or a lost index)."""
    from agents.index import Index
    s = _settings(runs_dir=out_dir)
    n = Index.for_settings(s).rebuild(s.runs_dir)
    out.print(f"indexed {n} run(s) from {s.runs_dir}", highlight=False)


@db_app.command("upgrade")
@_guard
def db_upgrade(out_dir: _Out = None) -> None:
    """Create or migrate every table: the run index (runs, reviews, schedules, outbox, jobs,
    leases, payment intents) and, on PostgreSQL, LangGraph's checkpoint tables."""
    from agents.workers.db import upgrade
    s = _settings(runs_dir=out_dir)
    applied = upgrade(s)
    where = "PostgreSQL" if s.database_url else f"SQLite under {s.runs_dir}"
    out.print(f"{where}: applied {', '.join(applied)}" if applied
              else f"{where}: up to date", highlight=False)


@db_app.command("prune")
@_guard
def db_prune(
    older_than_days: Annotated[float, typer.Option(min=0.0, help="Prune the checkpoints of runs last updated more than this many days ago.")] = 30.0,
    delete: Annotated[bool, typer.Option("--delete", help="Delete every checkpoint of their finished assets (default: keep each thread's latest).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be pruned; change nothing.")] = False,
    out_dir: _Out = None,
) -> None:
    """Checkpoint retention for PostgreSQL checkpoints (workers): old runs keep only each
    asset's latest checkpoint, or, with --delete, none for assets that are finished
    (assets waiting for review always keep theirs)."""
    from agents.workers.retention import prune_checkpoints
    s = _settings(runs_dir=out_dir)
    r = prune_checkpoints(s, older_than_s=older_than_days * 86400,
                          strategy="delete" if delete else "keep_latest", dry_run=dry_run)
    verb = "would prune" if dry_run else "pruned"
    out.print(f"{verb} {r['threads']} asset thread(s) of {r['runs']} run(s) "
              f"({r['strategy']}); checkpoints {r['before']} → {r['after']}", highlight=False)


@app.command()
@_guard
def worker(
    queues: Annotated[str, typer.Option("--queues", "-Q", help="Comma-separated: generate (waits on providers: threads), check (CPU-bound OCR: one process per slot).")] = "generate,check",
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=1, max=512, help="Tasks at once (threads, or processes for a check-only worker).")] = 8,
    pool: Annotated[Optional[str], typer.Option(help="threads | prefork | solo.", show_default="threads when serving generate, else prefork")] = None,
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
) -> None:
    """Run a worker: takes assets queued by `run`/`batch` on any machine (needs
    SIGNWRITER_BROKER_URL and a PostgreSQL SIGNWRITER_DATABASE_URL, and the shared runs
    folder). SIGTERM: finish the stages in hand, then exit."""
    from agents.workers.app import run_worker
    s = _settings()
    if not s.cluster:
        _fail("a worker needs SIGNWRITER_BROKER_URL=redis://… and "
              "SIGNWRITER_DATABASE_URL=postgresql://…")
    wanted = [q.strip() for q in queues.split(",") if q.strip()]
    if not wanted or any(q not in ("generate", "check") for q in wanted):
        _fail(f"--queues {queues!r}: name generate and/or check")
    if pool not in (None, "threads", "prefork", "solo"):
        _fail(f"--pool {pool!r}: threads, prefork or solo")
    run_worker(s, queues=wanted, concurrency=concurrency, pool=pool, loglevel=loglevel)


@app.command()
@_guard
def status(json_out: Annotated[bool, typer.Option("--json", help="Machine-readable.")] = False
           ) -> None:
    """Workers at a glance: queue lengths, live workers, leases held, paid provider tasks
    in flight and unfinished jobs."""
    from agents.workers.jobs import cluster_status
    s = _settings()
    if not s.cluster:
        _fail("status shows workers: set SIGNWRITER_BROKER_URL and a PostgreSQL "
              "SIGNWRITER_DATABASE_URL")
    st = cluster_status(s)
    if json_out:
        out.print_json(json.dumps(st, default=str))
        return
    for name, n in st["queues"].items():
        out.print(f"queue {name}: {'broker unreachable' if n is None else f'{n} waiting'}",
                  highlight=False)
    t = Table(title=f"workers ({len(st['workers'])} alive)", title_justify="left")
    for col in ("worker", "queues", "concurrency", "last heartbeat"):
        t.add_column(col)
    for w in st["workers"]:
        t.add_row(escape(w["id"]), w["queues"], str(w["concurrency"]), f"{w['age_s']:.0f}s ago")
    out.print(t)
    t = Table(title=f"leases ({len(st['leases'])} held)", title_justify="left")
    for col in ("run/asset", "stage", "owner", "token", "expires in"):
        t.add_column(col)
    for x in st["leases"]:
        t.add_row(escape(f"{x['run_id']}/{x['asset_id']}"), x["stage"] or "",
                  escape(x["owner"]), str(x["token"]), f"{x['expires_in_s']:.0f}s")
    out.print(t)
    t = Table(title=f"paid tasks in flight ({len(st['paid_in_flight'])})", title_justify="left")
    for col in ("run/asset", "attempt", "backend", "state", "provider task", "age"):
        t.add_column(col)
    for p in st["paid_in_flight"]:
        h = p["handle"] or {}
        t.add_row(escape(f"{p['run_id']}/{p['asset_id']}"), str(p["attempt"]),
                  p["backend"] or "", p["state"],
                  escape(str(h.get("task_id") or h.get("request_id") or (h and h) or "—")),
                  f"{p['age_s']:.0f}s")
    out.print(t)
    for j in st["jobs"]:
        budget = f" of ${j['max_cost']:.2f}" if j["max_cost"] is not None else ""
        out.print(f"job {j['id']} ({j['kind']}): {j['done']} done, {j['queued']} queued, "
                  f"${j['spent_usd']:.4f}{budget} spent", highlight=False)


@app.command()
def backends(json_out: Annotated[bool, typer.Option("--json", help="Machine-readable.")] = False,
             markdown: Annotated[bool, typer.Option("--markdown", help="The README's table (built-in backends).")] = False,
             ) -> None:
    """List image backends (built-in and plugins) with their capabilities, limits and
    the settings they need."""
    from generation.registry import available_backends, load_problems, markdown_table
    if markdown:
        print(markdown_table())
        return
    specs = available_backends()
    if json_out:
        out.print_json(json.dumps([{
            **b.model_dump(mode="json"), "required_settings": b.required_settings,
            "options": {name: {"env": b.env(name), "description": f.description}
                        for name, f in b.options.model_fields.items() if not f.exclude}}
            for b in specs]))
        return
    t = Table(title="image backends", title_justify="left")
    for col in ("name", "what", "edit", "refs", "sizes", "cost/image", "needs", "from"):
        t.add_column(col, no_wrap=col in ("name", "edit", "refs"))
    for b in specs:
        c = b.capabilities
        t.add_row(b.name, b.summary, "yes" if c.edit else "no",
                  str(c.reference_images) if c.reference_images else "—", c.limits.describe(),
                  f"${c.cost_per_image_usd:.3f}" if c.paid else "free",
                  ", ".join(b.required_settings) or "—", b.source)
    out.print(t)
    for problem in load_problems():
        console.print(f"[yellow]warning:[/] {escape(problem)}")


@bench_app.command("pipeline")
def bench_pipeline(
    assets: Annotated[int, typer.Option(min=1, help="Assets to run.")] = 64,
    latency: Annotated[float, typer.Option(min=0.0, help="Fake backend latency, seconds.")] = 2.0,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Generations in flight.")] = 16,
    size: Annotated[int, typer.Option(min=512, max=2048, help="Square image side, px (multiple of 32).")] = 512,
    ocr_runtime: Annotated[Optional[Runtime], typer.Option(help="What runs the OCR judge (default: SIGNWRITER_OCR_RUNTIME).")] = None,
    repeat: Annotated[int, typer.Option(min=1, max=50, help="Run it this many times and report the median ratio (runs vary by a few hundredths).")] = 1,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Pipeline overhead against a fake backend with fixed latency (QA included).

    The ideal is ceil(assets / concurrency) x latency; the last line is
    overhead_ratio=wall/ideal (with --repeat, the median over the runs)."""
    from agents.benchmarks.pipeline import as_json, format_repeated, run_repeated
    rr = run_repeated(repeat, assets=assets, latency_s=latency, concurrency=concurrency,
                      size=size, ocr_runtime=ocr_runtime.value if ocr_runtime
                      else _settings().ocr_runtime)
    print(as_json(rr.runs[0] if repeat == 1 else rr) if json_out else format_repeated(rr))


@bench_app.command("batch")
@_guard
def bench_batch(
    assets: Annotated[int, typer.Option(min=1, help="Assets (CSV rows, one format each).")] = 300,
    latency: Annotated[float, typer.Option(min=0.0, help="Fake backend latency, seconds.")] = 2.0,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Generations in flight.")] = 16,
    size: Annotated[int, typer.Option(min=512, max=2048, help="Square image side, px (multiple of 32).")] = 512,
) -> None:
    """A batch against a fake backend with fixed latency: wall time against the ideal
    ceil(assets / concurrency) x latency, and memory at half-way and at the end (flat in
    the number of assets). The last line is overhead_ratio=wall/ideal."""
    from agents.benchmarks.batch import format_result, run_batch_bench
    print(format_result(run_batch_bench(assets, latency, concurrency, size)))


@bench_app.command("scale")
@_guard
def bench_scale(
    assets: Annotated[int, typer.Option(min=1, help="Assets (CSV rows, one format each).")] = 500,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes to start.")] = 4,
    concurrency: Annotated[int, typer.Option(min=1, max=256, help="Threads per generate worker.")] = 8,
    check_workers: Annotated[int, typer.Option(min=1, max=64, help="Check (OCR) worker processes to start.")] = 1,
    check_concurrency: Annotated[Optional[int], typer.Option(min=1, max=256, help="Processes per check worker.", show_default="one per core")] = None,
    latency: Annotated[float, typer.Option(min=0.0, help="Fixed latency of the fake backend, seconds.")] = 1.0,
    size: Annotated[int, typer.Option(min=512, max=2048, help="Square image side, px.")] = 512,
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable.")] = False,
) -> None:
    """A batch on real workers (needs SIGNWRITER_BROKER_URL and a PostgreSQL
    SIGNWRITER_DATABASE_URL): generate workers (threads) and check workers (processes);
    wall time against the ideal ceil(assets / (workers x concurrency)) x latency, overhead per asset, memory per worker at half-way and at the
    end. The last line is ratio=wall/ideal."""
    from agents.benchmarks.scale import format_result, run_scale_bench
    s = _settings()
    if not s.cluster:
        _fail("bench scale needs workers: set SIGNWRITER_BROKER_URL and a PostgreSQL "
              "SIGNWRITER_DATABASE_URL")
    r = run_scale_bench(s, assets=assets, workers=workers, concurrency=concurrency,
                        check_workers=check_workers, check_concurrency=check_concurrency,
                        latency_s=latency, size=size)
    print(r.model_dump_json(indent=2) if json_out else format_result(r))


@bench_app.command("scripts")
@_guard
def bench_scripts(
    posters: Annotated[int, typer.Option(min=1, help="Correct (and as many misspelt) posters per language.")] = 12,
    seed: Annotated[int, typer.Option(help="Seed: which copy, which region is misspelt, how.")] = 0,
    lang: Annotated[Optional[list[str]], typer.Option("--lang", help="Only these languages (repeatable): ja, zh-Hant, ko, zh, en.")] = None,
) -> None:
    """Each script's judge on posters in the language's own Noto CJK face: false rejects
    and catch per language and size class (headline, body, small)."""
    from agents.benchmarks.scripts import COPY, format_results, run_scripts_bench
    unknown = [x for x in lang or [] if x not in COPY]
    if unknown:
        _fail(f"no bench copy for {', '.join(unknown)}; choose from {', '.join(COPY)}")
    print(format_results(run_scripts_bench(posters, seed, lang or None), seed))


@bench_app.command("qa")
@_guard
def bench_qa(
    n: Annotated[int, typer.Option(min=2, help="Labelled images to generate.")] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the labelled set.")] = 0,
    out_dir: Annotated[Optional[Path], typer.Option("--out", help="Where the set is written (kept and reused).")] = None,
    folder: Annotated[Optional[Path], typer.Option(help="Score your own labelled images instead (see docs: labels.csv / labels.jsonl).")] = None,
    workers: Annotated[int, typer.Option(min=1, max=16, help="Parallel QA processes.")] = 1,
    ocr_runtime: Annotated[Optional[Runtime], typer.Option(help="What runs the OCR judge (default: SIGNWRITER_OCR_RUNTIME).")] = None,
    recheck_runtime: Annotated[Optional[Runtime], typer.Option(help="What judges again an image the first read did not pass (default: SIGNWRITER_OCR_RECHECK_RUNTIME).")] = None,
    ignore_case: Annotated[bool, typer.Option("--ignore-case", help="With --folder: letter case is not judged.")] = False,
    ignore_punctuation: Annotated[bool, typer.Option("--ignore-punctuation", help="With --folder: punctuation is not judged.")] = False,
    half: Annotated[str, typer.Option("--half", help="With --folder: all | tune | held-out (a fixed split by the SHA-256 of each image's id; tune on one, report the other).")] = "all",
    set_name: Annotated[str, typer.Option("--set", help="Generated set: synthetic | hard (unseen faces and backgrounds, drift, rotation) | lookalike (one look-alike character per wrong poster) | lookalike-hard (the same in unseen faces, rotated, blurred, JPEG) | lookalike-legal (that, with letters for 0 and 1 in 12–18 px fine print).")] = "synthetic",
) -> None:
    """QA catch rate and false rejects with 95 % intervals, time per image, peak memory.
    With --folder and --out, the per-image results are also written to OUT/results.json."""
    from agents.benchmarks.qa import format_result, run_qa_bench, score_folder
    if folder is None and (ignore_case or ignore_punctuation):
        raise typer.BadParameter("--ignore-case and --ignore-punctuation apply to --folder "
                                 "(the synthetic set judges as its specs say)")
    if folder is None and half != "all":
        raise typer.BadParameter("--half applies to --folder")
    runtime = ocr_runtime.value if ocr_runtime else _settings().ocr_runtime
    recheck = recheck_runtime.value if recheck_runtime else _settings().ocr_recheck_runtime
    bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn(
        "{task.completed}/{task.total}"), TimeElapsedColumn(), console=console, transient=True)
    tasks: dict[str, Any] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=total)
        bar.update(tasks[stage], completed=done)

    with bar:
        if folder is not None:
            from qa.models import Strictness
            r = score_folder(folder, workers=workers, runtime=runtime, recheck=recheck,
                             progress=progress, half=half, strictness=Strictness(
                                 case=not ignore_case, punctuation=not ignore_punctuation))
            if out_dir is not None:
                out_dir.mkdir(parents=True, exist_ok=True)
                (out_dir / "results.json").write_text(r.model_dump_json(indent=2),
                                                      encoding="utf-8")
        else:
            default = Path("runs") / (f"bench-qa-{seed}-{n}" if set_name == "synthetic"
                                      else f"bench-qa-{set_name}-{seed}-{n}")
            r = run_qa_bench(n, seed, out_dir or default, workers=workers, runtime=runtime,
                             recheck=recheck, progress=progress, set_name=set_name)
    print(format_result(r))


@bench_app.command("examples")
@_guard
def bench_examples(
    briefs: Annotated[Optional[list[Path]], typer.Argument(help="Briefs (default: examples/briefs/*.yaml).")] = None,
    seeds: Annotated[str, typer.Option(help="Seeds of the runs with every attempt injected, e.g. 11-15 or 11,12.")] = "11-15",
    max_attempts: Annotated[int, typer.Option(min=1, max=20, help="Attempts per asset.")] = 3,
    out_dir: Annotated[Path, typer.Option("--out", help="Where the runs go.")] = Path("runs") / "bench-examples",
    json_out: Annotated[bool, typer.Option("--json", help="Print every asset's outcome as JSON.")] = False,
) -> None:
    """Every example brief on typeset: accepted with no error injected? Any injected error accepted (--simulate-errors 1.0, per seed)?"""
    from agents.benchmarks.examples import format_examples, run_examples
    paths = briefs or sorted(Path("examples/briefs").glob("*.yaml"))
    if not paths:
        _fail("no briefs given and none in examples/briefs/")
    try:
        if "-" in seeds:
            lo, hi = (int(x) for x in seeds.split("-", 1))
            seed_list = list(range(lo, hi + 1))
        else:
            seed_list = [int(x) for x in seeds.split(",") if x.strip()]
    except ValueError:
        _fail(f"--seeds {seeds!r}: give a range such as 11-15 or a list such as 11,12")
    r = run_examples(paths, seed_list, out_dir, max_attempts=max_attempts)
    print(r.model_dump_json(indent=2) if json_out else format_examples(r))
    raise typer.Exit(0 if not r.injected_accepted_with_error and not r.clean_not_accepted
                     and not r.runs_failed else 1)


@app.command()
def doctor(offline: Annotated[Optional[bool], typer.Option("--offline/--online", help="Contact the configured endpoints or not (default: only when a backend is set explicitly, by SIGNWRITER_BACKEND or .env).", show_default=False)] = None,
           timeout: Annotated[float, typer.Option(help="Seconds per endpoint check.")] = 5.0) -> None:
    """Check the configuration and reach each configured endpoint (keys are never shown)."""
    from agents.doctor import run_checks
    settings = _settings()
    if offline is None:  # nothing is contacted unless a backend was chosen on purpose
        offline = "backend" not in settings.model_fields_set
    checks = run_checks(settings, timeout=timeout, reach=not offline)
    t = Table(title="signwriter doctor", title_justify="left")
    for col in ("check", "", "detail"):
        t.add_column(col)
    marks = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "fail": "[red]FAIL[/]"}
    for c in checks:
        t.add_row(escape(c.name), marks[c.level], escape(c.message))
    out.print(t)
    if offline:
        out.print("endpoints not contacted (--online checks them)")
    raise typer.Exit(1 if any(c.level == "fail" for c in checks) else 0)


_guard_every_command(app)


def main() -> None:
    try:
        app()
    except BrokenPipeError:  # pragma: no cover - `signwriter plan x | head`
        sys.exit(0)


if __name__ == "__main__":  # pragma: no cover
    main()

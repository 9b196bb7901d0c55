"""The run folder: every artifact a run writes, and the ledger of paid generations.

::

    runs/<run_id>/
      brief.yaml            the brief as given
      run.json              run metadata (backend, planner, settings that matter)
      specs/<asset>.json    the planned VisualSpec per asset
      images/<sha256>.png   every generated image, content-addressed
      ledger.jsonl          one line per generation, appended (fsync) as soon as the
                            provider's answer is in hand, BEFORE the image bytes are
                            written (a full disk may then lose the bytes, never the
                            fact that they were paid for)
      assets/<asset>/attempt-<n>/{prompt.txt, attempt.json, qa.json, overlay.jpg}
      assets/<asset>/status.json, final.png
      checkpoints.sqlite    LangGraph checkpoints (resume after a crash)
      manifest.json         the summary, rebuilt from the files above

Images never enter graph state: state carries paths and hashes.

Three rules keep a run whole when processes crash or race (issue 11):

- **A run appears complete or not at all.** :meth:`RunStore.create` builds the folder
  (brief, specs, run.json) under a hidden temporary name in the runs folder, fsyncs it and
  renames it into place; :meth:`RunStore.check_complete` refuses a folder that lacks a
  spec run.json lists.
- **One owner per run.** :class:`RunLock` is an exclusive OS file lock
  (``runs/.locks/<run_id>.lock``, via ``filelock``) held by ``run``, ``resume`` and every
  review decision; a second process is told who holds it (pid, host, since) or waits.
- **Decisions first, files after.** A review decision is stored in the run index before
  it is applied to the graph (``agents.review``); a decision whose process died is applied
  by the next command that holds the lock, never contradicted.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import socket
import sqlite3
import stat
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
from filelock import FileLock, Timeout

from agents.errors import RunBusy, RunIncomplete, RunNotFound, StorageError
from agents.status import AssetStatus, RunStatus, run_status

_EXT = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}
_ledger_lock = threading.Lock()
RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
"""What a run id looks like (the name of its folder; never a path)."""


def new_run_id(brief_name: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", brief_name)[:40] or "run"
    return f"{stamp}-{safe}-{os.urandom(2).hex()}"


def atomic_write(path: Path, data: bytes | str, *, durable: bool = True) -> None:
    """Write via a temp file + rename, so a crash never leaves half a file. ``durable``
    also fsyncs it first, so a power cut cannot lose it: paid images, specs, run.json.
    Derived records (attempt and status JSON, reports, the manifest) skip that: a killed
    process cannot lose them, a power cut can lose the last few, and none records a
    payment (the ledger does, fsynced). An fsync in a new folder can cost tens of ms."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_JSON_OPTS = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE


def dump_json(obj: Any) -> bytes:
    """Indented UTF-8 JSON (orjson: the stdlib encoder is pure Python once indenting, and
    the run manifest is rewritten at the end of every run)."""
    return orjson.dumps(obj, default=str, option=_JSON_OPTS)


def write_json(path: Path, obj: Any, *, durable: bool = False) -> None:
    atomic_write(path, dump_json(obj), durable=durable)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


class RunStore:
    """Paths and durable writes for one run folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        # the ledger, read incrementally: entries, and the last one per (asset, attempt, kind)
        self._ledger_lock = threading.Lock()
        self._ledger_entries: list[dict[str, Any]] = []
        self._ledger_index: dict[tuple[str, int, str], dict[str, Any]] = {}
        self._ledger_offset = 0

    # --- locating -----------------------------------------------------------------------
    @classmethod
    def create(cls, runs_dir: Path, run_id: str,
               files: Mapping[str, bytes] | None = None) -> "RunStore":
        """Create the run folder with ``files`` (relative path -> bytes: brief, run.json,
        specs) all at once: built under a hidden temporary name, fsynced, then renamed into
        place, so a crash or a full disk never leaves a half-made run that looks real."""
        if not RUN_ID_RE.match(run_id):
            raise StorageError(f"cannot create run {run_id[:80]!r}: not a valid run id")
        runs = Path(runs_dir)
        root = runs / run_id
        ensure_writable(runs)
        if root.exists():
            raise StorageError(f"run folder {root} already exists")
        clean_partial_runs(runs)
        tmp = Path(tempfile.mkdtemp(prefix=f"{CREATING}{run_id[:60]}-", dir=runs))
        # held until the rename: a cleaner that can take it knows this creator is gone
        # (after the rename the same file is the run's own lock file, see RunLock)
        creating = FileLock(tmp / ".lock", timeout=0, thread_local=False,
                            preserve_lock_file=True)
        try:
            creating.acquire(timeout=0)
            for sub in ("specs", "images", "assets"):
                (tmp / sub).mkdir()
            for rel, data in (files or {}).items():
                target = tmp / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                with open(target, "xb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
            for d in (tmp / "specs", tmp):
                _fsync_dir(d)
            os.rename(tmp, root)  # atomic: the run exists complete, or not at all
            _fsync_dir(runs)
        except BaseException as e:
            shutil.rmtree(tmp, ignore_errors=True)
            creating.release(force=True)
            if isinstance(e, OSError):
                raise storage_error(e, f"creating run {run_id}",
                                    "nothing was generated or paid for") from e
            raise
        creating.release(force=True)
        return cls(root)

    @classmethod
    def list(cls, runs_dir: Path) -> list["RunStore"]:
        """Every complete-looking run under ``runs_dir`` (hidden temporary folders of runs
        being created, and the lock folder, are not runs)."""
        root = Path(runs_dir)
        if not root.is_dir():
            return []
        return [cls(p.parent) for p in sorted(root.glob("*/run.json"))
                if RUN_ID_RE.match(p.parent.name)]

    @classmethod
    def open(cls, runs_dir: Path, run_id: str) -> "RunStore":
        if not RUN_ID_RE.match(run_id or ""):
            raise RunNotFound(f"{run_id[:80]!r} is not a run id (run ids use letters, digits, "
                              "_ . - and name a folder under the runs folder)")
        root = Path(runs_dir) / run_id
        if not (root / "run.json").exists():
            known = [r.run_id for r in cls.list(runs_dir)]
            more = f" and {len(known) - 5} older" if len(known) > 5 else ""
            hint = (f"; the latest runs there: {', '.join(known[-5:])}{more}" if known
                    else "; there are no runs there yet")
            raise RunNotFound(f"no run '{run_id}' under {runs_dir}{hint}")
        return cls(root)

    @property
    def run_id(self) -> str:
        return self.root.name

    @property
    def checkpoint_db(self) -> Path:
        return self.root / "checkpoints.sqlite"

    def spec_path(self, asset_id: str) -> Path:
        return self.root / "specs" / f"{asset_id}.json"

    def asset_dir(self, asset_id: str) -> Path:
        return self.root / "assets" / asset_id

    def attempt_dir(self, asset_id: str, n: int) -> Path:
        return self.asset_dir(asset_id) / f"attempt-{n:02d}"

    def rel(self, path: Path | str) -> str:
        p = Path(path)
        try:  # paths built from root (the usual case): no filesystem calls
            return str(p.relative_to(self.root))
        except ValueError:
            return str(p.resolve().relative_to(self.root.resolve()))

    def abs(self, rel: str) -> Path:
        return self.root / rel

    # --- images and the ledger ------------------------------------------------------------
    def image_path(self, data: bytes, media_type: str = "image/png") -> tuple[str, str]:
        """Where :meth:`save_image` puts ``data``: (relative path, sha256); writes nothing,
        so a paid image can be recorded in the ledger before its bytes are written."""
        sha = hashlib.sha256(data).hexdigest()
        return self.rel(self.root / "images" / f"{sha}{_EXT.get(media_type, '.png')}"), sha

    def save_image(self, data: bytes, media_type: str = "image/png") -> tuple[str, str]:
        """Store image bytes content-addressed; returns (relative path, sha256)."""
        rel, sha = self.image_path(data, media_type)
        path = self.abs(rel)
        if not path.exists():
            atomic_write(path, data)
        return rel, sha

    def has_image(self, rel: str, sha256: str) -> bool:
        """True when the image the ledger recorded is on disk with the recorded content (a
        ledger line is written before its image, so a crash or a full disk between the two
        leaves a line whose image is missing)."""
        try:
            return hashlib.sha256(self.abs(rel).read_bytes()).hexdigest() == sha256
        except OSError:
            return False

    def reserve_space(self, key: str, nbytes: int) -> "SpaceReservation":
        """Hold ``nbytes`` of the run folder's disk before a paid call (a preallocated file,
        ``.reserve-<key>``), so the answer can be written however full the disk gets
        meanwhile: released just before the ledger line and image are written. Raises
        ``OSError`` (ENOSPC) when the space is not there, before anything is paid for. A
        reservation left by a killed process is reused by the same attempt's next try."""
        path = self.root / f".reserve-{key}"
        fallocate = getattr(os, "posix_fallocate", None)
        if fallocate is None:  # not on this OS: no room held (the ledger-first order stays)
            return SpaceReservation(path)
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        try:
            fallocate(fd, 0, max(1, int(nbytes)))
        except OSError as e:
            os.close(fd)
            path.unlink(missing_ok=True)
            if e.errno in (errno.ENOSPC, errno.EDQUOT):
                raise
            return SpaceReservation(path)  # a filesystem that cannot preallocate
        os.close(fd)
        return SpaceReservation(path)

    def record_generation(self, entry: dict[str, Any]) -> None:
        """Append one generation to ledger.jsonl and fsync it."""
        entry = {"ts": time.time(), **entry}
        line = json.dumps(entry, ensure_ascii=False, default=str).encode("utf-8") + b"\n"
        with open(self.root / "ledger.jsonl", "a+b") as f:
            with _ledger_lock:
                if f.tell() > 0:  # a line torn by a crash must not swallow this one
                    f.seek(f.tell() - 1)
                    if f.read(1) != b"\n":
                        line = b"\n" + line
                f.write(line)
                f.flush()
            # outside the lock: threads recording at the same moment share one journal
            # commit instead of queueing for one each; each returns only once its own
            # line is on disk
            os.fsync(f.fileno())

    def ledger(self) -> list[dict[str, Any]]:
        """Every ledger entry, oldest first (a torn line left by a crash is skipped)."""
        self._read_ledger()
        with self._ledger_lock:
            return list(self._ledger_entries)

    def _read_ledger(self) -> None:
        """Read what was appended since the last call (by this or any other process)."""
        path = self.root / "ledger.jsonl"
        with self._ledger_lock:
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                size = 0
            if size < self._ledger_offset:  # replaced: start again
                self._ledger_entries, self._ledger_index, self._ledger_offset = [], {}, 0
            if size == self._ledger_offset:
                return
            with open(path, "rb") as f:
                f.seek(self._ledger_offset)
                chunk = f.read(size - self._ledger_offset)
            end = chunk.rfind(b"\n")
            if end < 0:  # only part of a line so far
                return
            for raw in chunk[:end + 1].splitlines():
                try:
                    e = json.loads(raw)
                except json.JSONDecodeError:  # a torn line after a crash
                    continue
                if not isinstance(e, dict):
                    continue
                self._ledger_entries.append(e)
                key = (str(e.get("asset_id")), e.get("attempt"), e.get("kind", "done"))
                self._ledger_index[key] = e  # type: ignore[index]
            self._ledger_offset += end + 1

    def find_generation(self, asset_id: str, n: int, kind: str = "done") -> dict[str, Any] | None:
        """The ledger entry of a finished (or submitted) generation for this attempt."""
        self._read_ledger()
        with self._ledger_lock:
            return self._ledger_index.get((asset_id, n, kind))  # type: ignore[arg-type]

    def spent_usd(self, *, uncertain: bool = True) -> float:
        """What the run has paid: every generation's cost and, with ``uncertain``, what
        unanswered submits that were sent again may have cost (what budgets count)."""
        return round(sum(e.get("cost_usd", 0.0) + (e.get("possibly_charged_usd", 0.0)
                                                    if uncertain else 0.0)
                         for e in self.ledger() if e.get("kind", "done") in ("done", "failed")),
                     6)

    def final_path(self, asset_id: str, image_rel: str) -> str:
        """Where an asset's final image goes (relative), for the image ``image_rel``."""
        return self.rel(self.asset_dir(asset_id) / f"final{Path(image_rel).suffix}")

    def copy_final(self, asset_id: str, image_rel: str) -> str:
        """Copy an attempt's image to final.<ext> (a unique temp name, then rename)."""
        dst = self.abs(self.final_path(asset_id, image_rel))
        data = self.abs(image_rel).read_bytes()
        if not (dst.exists() and dst.read_bytes() == data):
            atomic_write(dst, data, durable=False)
        return self.rel(dst)

    # --- manifest ---------------------------------------------------------------------
    def asset_ids(self) -> list[str]:
        return sorted(p.stem for p in (self.root / "specs").glob("*.json")
                      if RUN_ID_RE.match(p.stem))

    def check_complete(self) -> dict[str, Any]:
        """run.json, and a readable spec for every asset it lists; raises
        :class:`RunIncomplete` naming what is missing. Returns run.json."""
        try:
            meta = read_json(self.root / "run.json")
        except (OSError, ValueError) as e:
            raise RunIncomplete(f"run {self.run_id}: run.json is unreadable ({e}); the run was "
                                "not created completely: start it again with `signwriter run`"
                                ) from None
        expected = meta.get("assets")
        if expected is None:  # a run from before run.json listed its assets
            return meta
        missing = []
        for aid in expected:
            try:
                spec = read_json(self.spec_path(aid))
                if spec.get("asset_id") != aid:
                    missing.append(aid)
            except (OSError, ValueError):
                missing.append(aid)
        if missing:
            raise RunIncomplete(f"run {self.run_id} is incomplete: no valid spec for "
                                f"{', '.join(missing)} (of {len(expected)} assets); it cannot "
                                "be resumed: start it again with `signwriter run`")
        return meta

    def attempts(self, asset_id: str) -> list[dict[str, Any]]:
        out = []
        for d in sorted(self.asset_dir(asset_id).glob("attempt-*")):
            f = d / "attempt.json"
            if f.exists():
                out.append(read_json(f))
        return sorted(out, key=lambda a: a["n"])

    def asset_status(self, asset_id: str) -> dict[str, Any]:
        f = self.asset_dir(asset_id) / "status.json"
        return read_json(f) if f.exists() else {"status": AssetStatus.PENDING}

    def set_asset_status(self, asset_id: str, **fields: Any) -> None:
        current = self.asset_status(asset_id)
        current.update(fields)
        current["updated"] = time.time()
        write_json(self.asset_dir(asset_id) / "status.json", current)

    def manifest(self, process: RunStatus | None = None) -> dict[str, Any]:
        """The run's summary, rebuilt from its files. Its status is derived from the
        assets' (:func:`agents.status.run_status`); ``process`` (default: what run.json
        records) says whether the runner is still at work or stopped early."""
        meta = read_json(self.root / "run.json")
        assets = []
        for aid in self.asset_ids():
            spec = read_json(self.spec_path(aid))
            st = self.asset_status(aid)
            attempts = self.attempts(aid)
            assets.append({
                "asset_id": aid, "format": spec.get("format"), "width": spec.get("width"),
                "height": spec.get("height"),
                "status": AssetStatus(st.get("status", AssetStatus.PENDING)),
                "final_image": st.get("final_image"), "reason": st.get("reason"),
                "review": st.get("review"), "findings": st.get("findings") or [],
                "cost_usd": round(sum(a.get("cost_usd", 0.0) for a in attempts), 6),
                "attempts": attempts,
            })
        if process is None:
            process = (RunStatus.STOPPED if meta.get("process") == RunStatus.STOPPED
                       else RunStatus.RUNNING)
        status = run_status([a["status"] for a in assets], process)
        return {"run_id": self.run_id, "status": status, "brief": meta.get("brief"),
                "backend": meta.get("backend"), "planner": meta.get("planner"),
                "created": meta.get("created"), "cost_usd": self.spent_usd(uncertain=False),
                "possibly_charged_usd": round(self.spent_usd() - self.spent_usd(
                    uncertain=False), 6),
                "max_cost": meta.get("max_cost"), "error": meta.get("error"), "assets": assets}

    def write_manifest(self, manifest: dict[str, Any] | None = None) -> dict[str, Any]:
        """Write ``manifest`` (default: :meth:`manifest`) to manifest.json."""
        m = self.manifest() if manifest is None else manifest
        write_json(self.root / "manifest.json", m)
        return m


# --- storage ---------------------------------------------------------------------------
CREATING = ".creating-"
"""Prefix of the hidden folder a run is built in before it is renamed into place."""
STALE_CREATING_S = 60.0
"""A ``.creating-*`` folder is only removed once it is this old (seconds since it last
changed) AND no process holds its lock: building a run takes well under a second, and the
age covers the instant between making the folder and locking it."""


def clean_partial_runs(runs_dir: Path, older_than_s: float = STALE_CREATING_S) -> list[str]:
    """Remove the ``.creating-*`` folders of runs whose creation died (a kill, a crash, a
    full disk that could not even be cleaned up): older than ``older_than_s`` and with
    their lock free, so a run another process is building right now is never touched.
    Called at every run creation; returns the names removed. Nothing in such a folder was
    ever generated or paid for (a run is executed only after it is in place)."""
    runs = Path(runs_dir)
    removed: list[str] = []
    try:
        names = [n for n in os.listdir(runs) if n.startswith(CREATING)]
    except OSError:
        return removed
    now = time.time()
    for name in names:
        d = runs / name
        try:
            st = d.lstat()
        except OSError:
            continue
        if not stat.S_ISDIR(st.st_mode) or now - st.st_mtime < older_than_s:
            continue
        lock = FileLock(d / ".lock", timeout=0, thread_local=False, preserve_lock_file=True)
        try:
            if (d / ".lock").exists():
                lock.acquire(timeout=0)  # Timeout: its creator is still at work
            shutil.rmtree(d)
            removed.append(name)
        except Timeout:
            continue
        except OSError:
            continue  # not ours to remove (permissions, a race with another cleaner)
        finally:
            lock.release(force=True)
    return removed


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def disk_full(e: BaseException) -> bool:
    """True for ENOSPC/EDQUOT, and SQLite's "database or disk is full"."""
    if isinstance(e, OSError):
        return e.errno in (errno.ENOSPC, errno.EDQUOT)
    return isinstance(e, sqlite3.OperationalError) and "full" in str(e)


def storage_error(e: BaseException, doing: str, consequence: str) -> StorageError:
    """A clear :class:`StorageError` for an OSError / SQLite error while ``doing``."""
    where = f" ({getattr(e, 'filename', None)})" if getattr(e, "filename", None) else ""
    if disk_full(e):
        what = "the disk is full"
    else:
        what = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return StorageError(f"{doing}: {what}{where}; {consequence}")


def ensure_writable(runs_dir: Path) -> None:
    """Refuse up front (:class:`StorageError`) a runs folder that cannot be written."""
    runs = Path(runs_dir)
    try:
        runs.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".write-test-", dir=runs)
        try:
            os.write(fd, b"x")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(tmp)
    except OSError as e:
        fix = ("free some space" if disk_full(e) else "choose a writable folder")
        raise StorageError(f"the runs folder {runs} is not usable "
                           f"({'the disk is full' if disk_full(e) else e.strerror or e}); "
                           f"{fix} (--out or SIGNWRITER_RUNS_DIR)") from None


# --- one owner per run -------------------------------------------------------------------
class RunLock:
    """The exclusive owner of one run: an OS file lock (``filelock``; ``flock`` on Unix)
    on ``<runs>/<run_id>/.lock``, plus who holds it (pid, host, command, since) in
    ``.lock.owner.json`` next to it, so a second process can be told.

    ``run``, ``resume`` and every review decision hold it for their whole work. The lock
    dies with its process (a killed owner frees it at once). Locks are files, so they work
    across processes on one machine; across machines the run needs a lease instead."""

    def __init__(self, runs_dir: Path, run_id: str, command: str = "signwriter") -> None:
        if not RUN_ID_RE.match(run_id):
            raise RunNotFound(f"{run_id[:80]!r} is not a run id")
        self.dir = Path(runs_dir) / run_id
        self.run_id = run_id
        self.command = command
        self.path = self.dir / ".lock"
        self.owner_path = self.dir / ".lock.owner.json"
        self._lock: FileLock | None = None
        self._outer: RunLock | None = None  # set when this thread already held the run
        self._depth = 0

    def owner(self) -> dict[str, Any] | None:
        try:
            return read_json(self.owner_path)
        except (OSError, ValueError):
            return None

    def _holder(self, patience_s: float = 0.5) -> dict[str, Any] | None:
        """Who holds the lock, for the message: a process that has just taken it writes
        its name a moment later, so an absent name is looked for again briefly."""
        deadline = time.monotonic() + patience_s
        while (who := self.owner()) is None and time.monotonic() < deadline:
            time.sleep(0.02)
        return who

    def acquire(self, wait: bool | float = False,
                on_wait: Any = None) -> "RunLock":
        """Take the lock; ``wait`` False: :class:`RunBusy` at once if held, True: wait as
        long as it takes, a number: at most that many seconds. ``on_wait(owner)`` is called
        once before waiting. A thread that already holds the run's lock takes it again at
        once (``start_run`` holds it around creating and executing the run)."""
        key = (str(self.path.absolute()), threading.get_ident())
        with _held_lock:
            outer = _held.get(key)
            if outer is not None:
                outer._depth += 1
                self._outer = outer
                return self
        if not self.dir.is_dir():
            raise RunNotFound(f"no run '{self.run_id}' under {self.dir.parent}")
        lock = FileLock(self.path, timeout=0, thread_local=False, preserve_lock_file=True)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            if wait is False:
                raise RunBusy(self.run_id, self._holder()) from None
            if on_wait is not None:
                on_wait(self._holder())
            try:
                lock.acquire(timeout=-1 if wait is True else float(wait))
            except Timeout:
                raise RunBusy(self.run_id, self._holder()) from None
        self._lock = lock
        self._depth = 1
        with _held_lock:
            _held[key] = self
        now = time.time()
        try:
            write_json(self.owner_path, {
                "pid": os.getpid(), "host": socket.gethostname(), "command": self.command,
                "since": now, "since_iso": datetime.fromtimestamp(now, timezone.utc)
                .strftime("%Y-%m-%d %H:%M:%S UTC")})
        except OSError:
            pass  # who holds it is a courtesy; the lock itself is held
        return self

    def release(self) -> None:
        if self._outer is not None:
            self._outer._depth -= 1
            self._outer = None
            return
        if self._lock is not None:
            with _held_lock:
                for k, v in list(_held.items()):
                    if v is self:
                        del _held[k]
            try:
                self.owner_path.unlink(missing_ok=True)
            except OSError:
                pass
            self._lock.release(force=True)
            self._lock = None

    def __enter__(self) -> "RunLock":
        if self._lock is None and self._outer is None:
            self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


_held: dict[tuple[str, int], RunLock] = {}
"""Run locks this process holds, by (lock file, thread): a thread may take its own again."""
_held_lock = threading.Lock()


def locked(runs_dir: Path, run_id: str, command: str, wait: bool | float = False,
           on_wait: Any = None) -> RunLock:
    """``with locked(runs, run_id, "resume"):`` — hold the run's lock for the block."""
    return RunLock(runs_dir, run_id, command).acquire(wait, on_wait)


def iter_runs(runs_dir: Path) -> Iterator[RunStore]:
    yield from RunStore.list(runs_dir)


class SpaceReservation:
    """Disk held by :meth:`RunStore.reserve_space`; :meth:`release` (idempotent) gives it
    back. Also a context manager that releases on exit."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def release(self) -> None:
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> "SpaceReservation":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

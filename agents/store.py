"""The run folder: every artifact a run writes, and the ledger of paid generations.

::

    runs/<run_id>/
      brief.yaml            the brief as given
      run.json              run metadata (backend, planner, settings that matter)
      specs/<asset>.json    the planned VisualSpec per asset
      images/<sha256>.png   every generated image, content-addressed
      ledger.jsonl          one line per generation, appended (fsync) right after the
                            image is on disk and before anything else can fail
      assets/<asset>/attempt-<n>/{prompt.txt, attempt.json, qa.json, overlay.jpg}
      assets/<asset>/status.json, final.png
      checkpoints.sqlite    LangGraph checkpoints (resume after a crash)
      manifest.json         the summary, rebuilt from the files above

Images never enter graph state: state carries paths and hashes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from agents.errors import RunNotFound
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
    def create(cls, runs_dir: Path, run_id: str) -> "RunStore":
        root = Path(runs_dir) / run_id
        root.mkdir(parents=True, exist_ok=False)
        for sub in ("specs", "images", "assets"):
            (root / sub).mkdir()
        return cls(root)

    @classmethod
    def open(cls, runs_dir: Path, run_id: str) -> "RunStore":
        if not RUN_ID_RE.match(run_id or ""):
            raise RunNotFound(f"{run_id[:80]!r} is not a run id (run ids use letters, digits, "
                              "_ . - and name a folder under the runs folder)")
        root = Path(runs_dir) / run_id
        if not (root / "run.json").exists():
            known = sorted(p.parent.name for p in Path(runs_dir).glob("*/run.json")) if Path(
                runs_dir).exists() else []
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
    def save_image(self, data: bytes, media_type: str = "image/png") -> tuple[str, str]:
        """Store image bytes content-addressed; returns (relative path, sha256)."""
        sha = hashlib.sha256(data).hexdigest()
        path = self.root / "images" / f"{sha}{_EXT.get(media_type, '.png')}"
        if not path.exists():
            atomic_write(path, data)
        return self.rel(path), sha

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

    def copy_final(self, asset_id: str, image_rel: str) -> str:
        src = self.abs(image_rel)
        dst = self.asset_dir(asset_id) / f"final{src.suffix}"
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(f".{dst.name}.tmp")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
        return self.rel(dst)

    # --- manifest ---------------------------------------------------------------------
    def asset_ids(self) -> list[str]:
        return sorted(p.stem for p in (self.root / "specs").glob("*.json"))

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

#!/usr/bin/env python3
"""Rebuild the real-image set from its source repositories, verifying every image's SHA-256.

    python bench/real/rebuild.py DEST                       # mirrors under /work/.mirror,
                                                            # else git clone/fetch
    python bench/real/rebuild.py DEST --mirror-dir DIR      # fetched mirrors only
    python bench/real/rebuild.py DEST --clone               # git clone/fetch (a normal user)
    signwriter bench qa --folder DEST [--ignore-case --ignore-punctuation]

Each row of ``manifest.jsonl`` (next to this file) names a public GitHub repository, a
commit and a path. An image is read with ``git cat-file`` from

* a fetched mirror: ``<mirror-dir>/<owner>+<name>/repo`` (a bare git directory), or
* a clone kept in ``--cache`` (default ``~/.cache/signwriter/realset``): ``git clone
  --bare --filter=blob:none`` of ``https://github.com/<owner>/<name>``, then ``git fetch``
  of the commit when it is not there yet.

The image is written to ``DEST/<file>`` only when its SHA-256 is the manifest's, and
``DEST/labels.jsonl`` gets the manifest's rows for the images that were written, which is
the format ``signwriter bench qa --folder`` scores. Images are never committed to this
repository. Standard library only; exit status 1 when any image could not be rebuilt
(``--allow-missing`` writes the rest and exits 0).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "manifest.jsonl"
DEFAULT_MIRRORS = Path("/work/.mirror")
REQUIRED = ("id", "file", "repo", "commit", "path", "sha256", "expected", "correct", "language")


class RebuildError(Exception):
    """One image could not be rebuilt; the message says which and why."""


def load_manifest(path: Path = MANIFEST) -> list[dict]:
    """The manifest's rows; raises :class:`RebuildError` naming a malformed line."""
    rows = []
    for k, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise RebuildError(f"{path.name} line {k}: not JSON ({exc.msg})") from None
        missing = [key for key in REQUIRED if key not in row]
        if missing:
            raise RebuildError(f"{path.name} line {k}: missing {', '.join(missing)}")
        rows.append(row)
    return rows


def _git(*args: str, git_dir: Path | None = None, binary: bool = False) -> bytes:
    cmd = ["git"] + ([f"--git-dir={git_dir}"] if git_dir else []) + list(args)
    proc = subprocess.run(cmd, capture_output=True, env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    if proc.returncode != 0:
        raise RebuildError(f"git {' '.join(args[:2])} failed: "
                           f"{proc.stderr.decode(errors='replace').strip()[:200]}")
    return proc.stdout if binary else proc.stdout.strip()


def _has(git_dir: Path, commit: str, path: str) -> bool:
    proc = subprocess.run(["git", f"--git-dir={git_dir}", "cat-file", "-e", f"{commit}:{path}"],
                          capture_output=True)
    return proc.returncode == 0


class Sources:
    """Finds the git directory holding each row's blob: a mirror, else a cached clone."""

    def __init__(self, mirror_dir: Path | None, cache: Path, clone: bool) -> None:
        self.mirror_dir = mirror_dir
        self.cache = cache
        self.clone = clone

    def git_dir(self, repo: str, commit: str, path: str) -> Path:
        key = repo.replace("/", "+")
        if self.mirror_dir is not None:
            mirror = self.mirror_dir / key / "repo"
            if mirror.is_dir() and _has(mirror, commit, path):
                return mirror
        if not self.clone:
            raise RebuildError(f"{repo}@{commit[:10]}:{path} is in no mirror under "
                               f"{self.mirror_dir} (use --clone to fetch it from GitHub)")
        cached = self.cache / f"{key}.git"
        if not cached.is_dir():
            cached.parent.mkdir(parents=True, exist_ok=True)
            _git("clone", "--bare", "--filter=blob:none", "--quiet",
                 f"https://github.com/{repo}.git", str(cached))
        if not _has(cached, commit, path):
            _git("fetch", "--quiet", "--filter=blob:none", "origin", commit, git_dir=cached)
        if not _has(cached, commit, path):
            raise RebuildError(f"{repo}@{commit[:10]} has no {path}")
        return cached


def rebuild(dest: Path, rows: list[dict], sources: Sources) -> tuple[list[dict], list[str]]:
    """Write each row's image into ``dest`` (SHA-256 verified) and ``dest/labels.jsonl``;
    returns the rows written and one message per image that was not."""
    dest.mkdir(parents=True, exist_ok=True)
    written, problems = [], []
    for row in rows:
        where = f"{row['id']} ({row['repo']}:{row['path']})"
        try:
            git_dir = sources.git_dir(row["repo"], row["commit"], row["path"])
            data = _git("cat-file", "blob", f"{row['commit']}:{row['path']}", git_dir=git_dir,
                        binary=True)
            digest = hashlib.sha256(data).hexdigest()
            if digest != row["sha256"]:
                raise RebuildError(f"sha256 {digest[:12]}… is not the manifest's "
                                   f"{row['sha256'][:12]}…")
        except RebuildError as exc:
            problems.append(f"{where}: {exc}")
            continue
        target = dest / row["file"]
        if target.resolve().parent != dest.resolve():
            problems.append(f"{where}: file name {row['file']!r} leaves the destination")
            continue
        target.write_bytes(data)
        written.append(row)
    with (dest / "labels.jsonl").open("w", encoding="utf-8") as fh:
        for row in written:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return written, problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dest", type=Path, help="Folder to write the images and labels.jsonl into.")
    ap.add_argument("--manifest", type=Path, default=MANIFEST)
    ap.add_argument("--mirror-dir", type=Path, default=None,
                    help=f"Fetched mirrors (<owner>+<name>/repo); default {DEFAULT_MIRRORS} "
                         "when it exists.")
    ap.add_argument("--clone", action="store_true",
                    help="Fetch what no mirror has with git clone/fetch from GitHub.")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache/signwriter/realset",
                    help="Where --clone keeps its bare clones.")
    ap.add_argument("--allow-missing", action="store_true",
                    help="Exit 0 even when some images could not be rebuilt.")
    args = ap.parse_args(argv)
    mirror_dir = args.mirror_dir or (DEFAULT_MIRRORS if DEFAULT_MIRRORS.is_dir() else None)
    clone = args.clone or mirror_dir is None
    try:
        rows = load_manifest(args.manifest)
    except (OSError, RebuildError) as exc:
        print(f"rebuild: {exc}", file=sys.stderr)
        return 2
    written, problems = rebuild(args.dest, rows, Sources(mirror_dir, args.cache, clone))
    for p in problems:
        print(f"rebuild: {p}", file=sys.stderr)
    print(f"{len(written)} of {len(rows)} images written to {args.dest} "
          f"(labels.jsonl for `signwriter bench qa --folder {args.dest}`)")
    return 0 if not problems or args.allow_missing else 1


if __name__ == "__main__":
    sys.exit(main())

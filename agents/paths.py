"""Files a brief may name, and only those: fonts, logos and images come from the brief's
own folder or an allowed assets folder (``SIGNWRITER_ASSETS_DIRS``, a shared brand kit).

    roots = asset_roots(brief_path.parent, settings)       # brief folder + assets_dirs
    logo = confine(raw, roots, field="brand.logo", kinds=IMAGE_SUFFIXES)

What is refused, before the file is opened (:class:`PathNotAllowed`, exit 2):

- an absolute path outside the roots, or a relative one that climbs out with ``..``:
  refused from the text alone, so the message is the same whether the file exists
  (a brief cannot probe the machine's files);
- a symlink inside a root that points outside every root;
- anything that is not a regular file: a folder, a device (``/dev/zero``), a FIFO, a socket;
- a file of the wrong kind (by suffix) or larger than ``max_bytes``;
- a value with control characters, NUL bytes or more than :data:`MAX_PATH_CHARS` characters.

The web app passes its upload folder as the only root, so API-submitted briefs may use
uploaded or configured assets only.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path

from agents.errors import PathNotAllowed

MAX_PATH_CHARS = 1024
"""Longest path a brief may give (file names over 255 bytes fail anyway: ENAMETOOLONG)."""

MAX_ASSET_BYTES = 50_000_000
"""Largest font, logo or image file a brief may name."""

FONT_SUFFIXES = (".ttf", ".otf", ".ttc")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def asset_roots(brief_dir: Path | str | None, extra: Iterable[Path | str] = ()) -> list[Path]:
    """The folders a brief may take files from: its own folder first, then ``extra``
    (``settings.assets_dirs``)."""
    roots = [Path(brief_dir)] if brief_dir is not None else []
    roots += [Path(p) for p in extra]
    return [Path(os.path.abspath(r)) for r in roots]


def _shown(value: str) -> str:
    """The value as a message may show it: printable and at most 80 characters."""
    clean = "".join(c if c.isprintable() else "?" for c in value)
    return repr(clean if len(clean) <= 80 else clean[:77] + "...")


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def looks_like_path(value: str) -> bool:
    """True when a font value names a file (has a folder part or a font suffix) rather than
    a family such as ``DejaVu Sans``."""
    return ("/" in value or "\\" in value or value.startswith("~")
            or value.lower().endswith(FONT_SUFFIXES))


def confine(value: str | Path, roots: Sequence[Path], *, field: str,
            kinds: Sequence[str] = (), what: str = "file",
            max_bytes: int = MAX_ASSET_BYTES) -> Path:
    """The real path of ``value`` if it is a regular file inside one of ``roots``;
    relative values are taken from the first root (the brief's folder).

    Raises :class:`PathNotAllowed` (naming ``field`` and the fix) otherwise."""
    raw = str(value)
    allowed = ", ".join(str(r) for r in roots) or "(none)"
    fix = (f"put the {what} in the brief's folder or an allowed assets folder "
           f"(SIGNWRITER_ASSETS_DIRS); allowed: {allowed}")
    if not raw.strip():
        raise PathNotAllowed(field, f"{what} path is empty", fix)
    if len(raw) > MAX_PATH_CHARS:
        raise PathNotAllowed(field, f"{what} path is {len(raw)} characters long "
                                    f"(at most {MAX_PATH_CHARS})", fix)
    if any(not c.isprintable() for c in raw):
        raise PathNotAllowed(field, f"{what} path {_shown(raw)} has control characters", fix)
    if not roots:
        raise PathNotAllowed(field, f"{what} {_shown(raw)} is not allowed here "
                                    f"(no folder to take files from)", fix)
    if raw.startswith("~"):
        raise PathNotAllowed(field, f"{what} {_shown(raw)}: '~' is not expanded", fix)
    given = Path(raw)
    candidate = given if given.is_absolute() else roots[0] / given
    lexical = os.path.normpath(str(candidate))
    # refused from the text alone: the same answer whether or not the file exists
    if not any(_within(lexical, str(r)) for r in roots):
        raise PathNotAllowed(field, f"{what} {_shown(raw)} is outside the allowed folders",
                             fix)
    real = os.path.realpath(lexical)
    if not any(_within(real, os.path.realpath(r)) for r in roots):
        raise PathNotAllowed(field, f"{what} {_shown(raw)} is a link to a place outside the "
                                    f"allowed folders", fix)
    if kinds and Path(real).suffix.lower() not in kinds:
        raise PathNotAllowed(field, f"{what} {_shown(raw)} is not a {'/'.join(kinds)} file",
                             f"give a {what} file ({', '.join(kinds)})")
    try:
        st = os.stat(real)
    except FileNotFoundError:
        raise PathNotAllowed(field, f"{what} {_shown(raw)} does not exist (looked for "
                                    f"{_shown(lexical)})", "check the spelling") from None
    except OSError as e:  # ENAMETOOLONG, ELOOP, EACCES...
        raise PathNotAllowed(field, f"{what} {_shown(raw)} cannot be used: "
                                    f"{e.strerror or type(e).__name__}", fix) from None
    if not stat.S_ISREG(st.st_mode):
        kind = ("a folder" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(
            st.st_mode) else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(
            st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
        raise PathNotAllowed(field, f"{what} {_shown(raw)} is {kind}, not a file", fix)
    if st.st_size > max_bytes:
        raise PathNotAllowed(field, f"{what} {_shown(raw)} is {st.st_size:,} bytes "
                                    f"(at most {max_bytes:,})", f"use a smaller {what}")
    return Path(real)


def check_input_file(path: Path | str, *, what: str, max_bytes: int,
                     setting: str = "") -> os.stat_result:
    """A file the user names on the command line (a brief, an image to check): it must be
    a regular file no larger than ``max_bytes``. Devices, FIFOs and folders are refused
    before they are opened (opening a FIFO blocks; ``/dev/zero`` never ends)."""
    p = str(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise PathNotAllowed("(file)", "no such file", f"check the path to the {what}"
                             ) from None
    except OSError as e:
        raise PathNotAllowed("(file)", f"cannot read the {what}: "
                                       f"{e.strerror or type(e).__name__}",
                             "check the path and its permissions") from None
    if not stat.S_ISREG(st.st_mode):
        kind = ("a folder" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(
            st.st_mode) else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(
            st.st_mode) else "not a regular file")
        raise PathNotAllowed("(file)", f"the {what} is {kind}, not a file",
                             f"give a {what} file")
    if st.st_size > max_bytes:
        raise PathNotAllowed("(file)", f"the {what} is {st.st_size:,} bytes (at most "
                                       f"{max_bytes:,})", f"{setting or 'a setting'} raises "
                                                          "the limit if this is really meant")
    return st


def read_limited(path: Path | str, *, what: str, max_bytes: int, setting: str = "") -> bytes:
    """The bytes of a regular file of at most ``max_bytes`` (see :func:`check_input_file`);
    never reads more than ``max_bytes + 1`` even if the file grows meanwhile."""
    check_input_file(path, what=what, max_bytes=max_bytes, setting=setting)
    raise_it = f"{setting} raises the limit" if setting else "raise the limit in settings"
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)  # a FIFO swapped in never blocks us
    try:
        fd = os.open(str(path), flags)
    except OSError as e:
        raise PathNotAllowed("(file)", f"cannot read the {what}: "
                                       f"{e.strerror or type(e).__name__}",
                             "check the path and its permissions") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise PathNotAllowed("(file)", f"the {what} is not a regular file",
                                 f"give a {what} file")
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise PathNotAllowed("(file)", f"the {what} is larger than {max_bytes:,} bytes",
                             raise_it)
    return data

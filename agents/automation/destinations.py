"""Destinations: a batch's accepted assets (QA's word, or a person's approval) copied to a
folder or an S3-compatible bucket (boto3; any server that speaks S3: AWS, MinIO, Ceph,
moto).

Each asset lands under its run id (``<run_id>.png``), so a tick run again copies the same
names: an asset already there with the same size is not copied again. Assets that wait
for review are not copied by the tick; instead the tick notes its destination in the
asset's run folder (``destinations.json``, :func:`remember_pending`), and a person's
approval, through the library API's decision path (:func:`agents.api.decide_review`, so
the CLI, the review app and ``/v1`` alike), copies it there at once
(:func:`deliver_approved`). A copy that fails then (a bucket unreachable) is noted in
that file and left to the job's next tick, which copies every accepted asset it finds
missing. Credentials for S3 come from boto3's usual chain
(``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, a profile, an instance role); never from
a jobs file.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from agents.errors import DestinationError
from agents.settings import Settings
from agents.store import RunStore, read_json, write_json

PENDING = "destinations.json"
"""In a run folder: where its asset goes once a person approves it."""


def _accepted(result: Any) -> list[tuple[str, Path]]:
    """(name, file) of every accepted asset with a final image."""
    out = []
    for it in result.items:
        if it.outcome == "accepted" and it.image and Path(it.image).is_file():
            out.append((f"{it.run_id}{Path(it.image).suffix}", Path(it.image)))
    return out


def to_folder(result: Any, folder: Path) -> list[str]:
    return _to_folder(_accepted(result), folder)


def _to_folder(files: list[tuple[str, Path]], folder: Path) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    copied = []
    for name, src in files:
        dst = folder / name
        if dst.exists() and dst.stat().st_size == src.stat().st_size:
            continue
        tmp = dst.with_name(f".{name}.tmp")
        shutil.copyfile(src, tmp)
        tmp.replace(dst)
        copied.append(str(dst))
    return copied


def to_s3(result: Any, url: str, *, endpoint_url: str | None = None,
          region: str | None = None) -> list[str]:
    return _to_s3(_accepted(result), url, endpoint_url=endpoint_url, region=region)


def _to_s3(files: list[tuple[str, Path]], url: str, *, endpoint_url: str | None = None,
           region: str | None = None) -> list[str]:
    import boto3
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    prefix = prefix.strip("/")
    copied: list[str] = []
    try:
        s3 = boto3.client("s3", endpoint_url=endpoint_url, region_name=region or "us-east-1")
        for name, src in files:
            key = f"{prefix}/{name}" if prefix else name
            try:
                head = s3.head_object(Bucket=bucket, Key=key)
                if head.get("ContentLength") == src.stat().st_size:
                    continue
            except ClientError as e:
                if e.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey",
                                                                   "NotFound"):
                    raise
            s3.upload_file(str(src), bucket, key, ExtraArgs={"ContentType": _media_type(src)})
            copied.append(f"s3://{bucket}/{key}")
    except ClientError as e:
        err = e.response.get("Error", {})
        raise DestinationError(f"s3://{bucket}: {err.get('Code', 'error')}: "
                               f"{err.get('Message', '')[:200]} ({len(copied)} copied)") from None
    except (Boto3Error, BotoCoreError) as e:
        raise DestinationError(f"s3://{bucket}: {str(e)[:300]} ({len(copied)} copied)") from None
    return copied


def _media_type(p: Path) -> str:
    return {".png": "image/png", ".jpg": "image/jpeg", ".webp": "image/webp"}.get(
        p.suffix.lower(), "application/octet-stream")


def deliver(result: Any, destination: Any, settings: Settings | None = None) -> list[str]:
    """Copy a batch's accepted assets to ``destination`` (a folder or an s3:// URL);
    returns what was copied this time."""
    return _copy(_accepted(result), destination)


def _copy(files: list[tuple[str, Path]], destination: Any) -> list[str]:
    if destination.folder is not None:
        return _to_folder(files, Path(destination.folder))
    return _to_s3(files, destination.s3, endpoint_url=destination.endpoint_url,
                  region=destination.region)


def remember_pending(result: Any, destination: Any, settings: Settings) -> int:
    """Note ``destination`` in the run folder of each asset of ``result`` that waits for
    review, so its approval delivers it at once (:func:`deliver_approved`). Returns how
    many it noted; noting the same destination again changes nothing."""
    entry = destination.model_dump(mode="json", exclude_none=True)
    if destination.folder is not None:
        entry["folder"] = str(Path(destination.folder).absolute())
    noted = 0
    for it in result.items:
        if it.outcome != "needs_review" or not it.run_id:
            continue
        path = Path(settings.runs_dir) / it.run_id / PENDING
        entries = _pending(path)
        if not any(_same(e, entry) for e in entries):
            write_json(path, [*entries, entry], durable=True)
        noted += 1
    return noted


def deliver_approved(store: RunStore, asset_id: str, image: Path) -> list[str]:
    """Copy an asset a person just approved to every destination its run folder notes
    (:func:`remember_pending`), under the name a tick would give it; returns what was
    copied. A destination that fails keeps its error in ``destinations.json`` and is left
    to the job's next tick: the decision stands either way."""
    from agents.automation.schedule import Destination

    path = store.root / PENDING
    entries = _pending(path)
    if not entries:
        return []
    name = (f"{store.run_id}{image.suffix}" if len(store.asset_ids()) == 1
            else f"{store.run_id}-{asset_id}{image.suffix}")
    copied: list[str] = []
    changed = False
    for e in entries:
        try:
            copied += _copy([(name, image)], Destination.model_validate(
                {k: v for k, v in e.items() if k not in ("error", "delivered")}))
            new = {k: v for k, v in e.items() if k != "error"} | {"delivered": name}
        except (DestinationError, OSError, ValueError) as err:
            new = {**e, "error": str(err)[:300]}
        changed |= new != e
        e.clear()
        e.update(new)
    if changed:
        write_json(path, entries, durable=True)
    return copied


def _pending(path: Path) -> list[dict[str, Any]]:
    try:
        data = read_json(path)
    except (OSError, ValueError):
        return []
    return [e for e in data if isinstance(e, dict)] if isinstance(data, list) else []


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    keys = ("folder", "s3", "endpoint_url", "region")
    return all(a.get(k) == b.get(k) for k in keys)

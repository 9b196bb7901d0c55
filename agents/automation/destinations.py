"""Destinations: a batch's accepted assets (QA's word, or a person's approval) copied to a
folder or an S3-compatible bucket (boto3; any server that speaks S3: AWS, MinIO, Ceph,
moto).

Each asset lands under its run id (``<run_id>.png``), so a tick run again copies the same
names: an asset already there with the same size is not copied again. Assets that wait
for review are not copied; once a person approves one, the job's next tick copies it (a
skipped asset that is now accepted is delivered like a new one). Credentials for S3 come
from boto3's usual chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, a profile, an
instance role); never from a jobs file.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from agents.errors import DestinationError
from agents.settings import Settings


def _accepted(result: Any) -> list[tuple[str, Path]]:
    """(name, file) of every accepted asset with a final image."""
    out = []
    for it in result.items:
        if it.outcome == "accepted" and it.image and Path(it.image).is_file():
            out.append((f"{it.run_id}{Path(it.image).suffix}", Path(it.image)))
    return out


def to_folder(result: Any, folder: Path) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    copied = []
    for name, src in _accepted(result):
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
    import boto3
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    prefix = prefix.strip("/")
    copied: list[str] = []
    try:
        s3 = boto3.client("s3", endpoint_url=endpoint_url, region_name=region or "us-east-1")
        for name, src in _accepted(result):
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
    if destination.folder is not None:
        return to_folder(result, Path(destination.folder))
    return to_s3(result, destination.s3, endpoint_url=destination.endpoint_url,
                 region=destination.region)

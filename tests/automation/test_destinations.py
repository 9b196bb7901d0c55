"""Destinations: accepted assets copied to a folder, and to an S3-compatible bucket on a real
server (moto's server mode, its own process on 127.0.0.1) through boto3."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agents.automation.batch import collect_paths, run_batch
from agents.automation.destinations import deliver
from agents.automation.schedule import Destination
from agents.errors import DestinationError
from agents.settings import Settings

BRIEF = """\
name: dest
brand: {name: Acme, colors: ["#0b3d91", "#ffffff", "#fc3d21"]}
copy: {headline: "%s", price: Only $19.99}
formats: [512x512]
"""


@pytest.fixture
def s3_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                             str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(url + "/moto-api/", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.2)
        for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                     "AWS_DEFAULT_REGION": "us-east-1"}.items():
            monkeypatch.setenv(k, v)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def batch_result(tmp_path: Path, settings: Settings):  # noqa: ANN201
    folder = tmp_path / "briefs"
    folder.mkdir()
    for i, h in enumerate(["Spring Sale", "Summer Deals"]):
        (folder / f"b{i}.yaml").write_text(BRIEF % h)
    items, bad = collect_paths([folder], settings)
    result = run_batch(items, bad, settings, concurrency=2)
    assert result.count("accepted") == 2
    return result


def test_accepted_assets_go_to_a_folder_once(tmp_path: Path, batch_result) -> None:  # noqa: ANN001
    dest = Destination(folder=tmp_path / "out")
    copied = deliver(batch_result, dest)
    assert len(copied) == 2
    for it in batch_result.items:
        assert (tmp_path / "out" / f"{it.run_id}.png").read_bytes() == Path(it.image).read_bytes()
    assert deliver(batch_result, dest) == []  # already there


def test_accepted_assets_go_to_an_s3_bucket(s3_server: str, batch_result) -> None:  # noqa: ANN001
    import boto3
    s3 = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    s3.create_bucket(Bucket="signwriter-out")
    dest = Destination(s3="s3://signwriter-out/weekly/offers", endpoint_url=s3_server)
    copied = deliver(batch_result, dest)
    assert sorted(copied) == sorted(f"s3://signwriter-out/weekly/offers/{it.run_id}.png"
                                    for it in batch_result.items)
    for it in batch_result.items:
        obj = s3.get_object(Bucket="signwriter-out", Key=f"weekly/offers/{it.run_id}.png")
        assert obj["Body"].read() == Path(it.image).read_bytes()
        assert obj["ContentType"] == "image/png"
    assert deliver(batch_result, dest) == []  # the same objects are not uploaded again
    missing = Destination(s3="s3://no-such-bucket/x", endpoint_url=s3_server)
    with pytest.raises(DestinationError, match=r"s3://no-such-bucket: .*NoSuchBucket"):
        deliver(batch_result, missing)


@pytest.mark.parametrize("where", ["folder", "s3"])
def test_an_approved_asset_is_delivered_at_the_approval_not_the_next_tick(
        tmp_path: Path, where: str, request: pytest.FixtureRequest) -> None:
    from datetime import datetime, timezone

    from agents.api import decide_review
    from agents.automation.schedule import Job, run_job
    (tmp_path / "b.yaml").write_text(BRIEF % "Spring Sale")
    if where == "folder":
        dest = Destination(folder=tmp_path / "out")

        def landed(name: str) -> bytes | None:
            f = tmp_path / "out" / name
            return f.read_bytes() if f.exists() else None
    else:
        import boto3
        endpoint = request.getfixturevalue("s3_server")
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        s3.create_bucket(Bucket="approved")
        dest = Destination(s3="s3://approved/weekly", endpoint_url=endpoint)

        def landed(name: str) -> bytes | None:
            try:
                return s3.get_object(Bucket="approved", Key=f"weekly/{name}")["Body"].read()
            except s3.exceptions.NoSuchKey:
                return None
    settings = Settings(runs_dir=tmp_path / "runs", _env_file=None)
    job = Job(name="weekly", cron="0 9 * * MON", briefs=[tmp_path / "b.yaml"],
              simulate_errors=1.0, max_attempts=1, destination=dest)  # every image misspelt
    first = run_job(job, datetime(2026, 1, 5, 9, tzinfo=timezone.utc), settings)
    (item,) = first["_batch"].items
    assert item.outcome == "needs_review" and first["delivered"] == 0
    assert landed(f"{item.run_id}.png") is None  # waits for a person

    result = decide_review(item.run_id, item.format, "approve", settings, reviewer="ana")
    (asset,) = result.manifest["assets"]
    assert asset["status"] == "approved_with_findings"
    final = (Path(settings.runs_dir) / item.run_id / asset["final_image"]).read_bytes()
    assert landed(f"{item.run_id}.png") == final  # at once, before any further tick

    later = run_job(job, datetime(2026, 1, 12, 9, tzinfo=timezone.utc), settings)
    assert later["delivered"] == 0  # the next tick finds it there already

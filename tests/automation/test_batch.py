"""`signwriter batch`: brief folders and CSV rows, idempotency keys, bad rows, budgets, the
report, the exit-code contract — and a batch killed with SIGKILL that is run again."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest

from agents.automation.batch import asset_key, collect_csv, collect_paths, run_batch
from agents.brief import load_brief
from agents.errors import BatchInputError
from agents.settings import Settings
from tests.agents.ledger_wait import done_entries

BASE = """\
name: offers
brand: {name: Acme, colors: ["#0b3d91", "#ffffff", "#fc3d21"]}
copy:
  headline: Placeholder
  price: "$0"
formats: [512x512, 640x512]
style: clean, modern
"""

LAST_LINE = re.compile(r"^generated (\d+), skipped (\d+), accepted (\d+), review (\d+), "
                       r"failed (\d+)$")

HEADLINES = ["Spring Sale", "Summer Deals", "Autumn Offers", "Winter Warmers", "New Arrivals",
             "Flash Sale", "Members Only", "Weekend Special", "Big Savings", "Fresh Picks"]


def _cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agents.cli", "batch", *args],
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "COLUMNS": "200"})


def _last(proc: subprocess.CompletedProcess) -> tuple[int, ...]:
    lines = proc.stdout.strip().splitlines()
    assert lines, proc.stderr
    m = LAST_LINE.match(lines[-1])
    assert m, f"last line is not the contract's: {lines[-1]!r}\n{proc.stderr}"
    return tuple(int(x) for x in m.groups())


def _write(tmp: Path, rows: list[str], base: str = BASE) -> tuple[Path, Path]:
    (tmp / "base.yaml").write_text(base)
    (tmp / "rows.csv").write_text("\n".join(rows) + "\n")
    return tmp / "base.yaml", tmp / "rows.csv"


# --- inputs --------------------------------------------------------------------------------
def test_bad_rows_are_reported_with_their_number_and_the_rest_goes_on(tmp_path: Path,
                                                                      settings: Settings) -> None:
    base, rows = _write(tmp_path, [
        "headline,price,formats",
        "Spring Sale,Only $19.99,512x512;social-square",  # row 2: fine, 2 assets
        "Bad Format,$5,nonsense",                        # row 3: unknown format
        "Missing price,",                                # row 4: a missing column
        ",$7,512x512",                                   # row 5: empty copy
        "Summer Deals,From $24.50,",                     # row 6: base formats (2 assets)
    ])
    items, bad = collect_csv(base, rows, settings)
    assert [(i.row, i.format) for i in items] == [(2, "512x512"), (2, "social-square"),
                                                 (6, "512x512"), (6, "640x512")]
    assert [b.row for b in bad] == [3, 4, 5]
    assert "unknown format 'nonsense'" in bad[0].message
    assert "missing column 'formats'" in bad[1].message
    assert "'headline' is empty" in bad[2].message
    assert items[0].brief.copy_["headline"].text == "Spring Sale"


def test_a_column_naming_no_copy_item_stops_the_batch_before_it_runs(tmp_path: Path) -> None:
    base, rows = _write(tmp_path, ["headlin,price", "Spring Sale,$5"])
    with pytest.raises(BatchInputError, match="'headlin' names no copy item"):
        collect_csv(base, rows, Settings(runs_dir=tmp_path / "runs", _env_file=None))
    proc = _cli("--brief", str(base), "--csv", str(rows), "--out", str(tmp_path / "runs"))
    assert proc.returncode == 2
    assert "headlin" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").glob("*/run.json"))


def test_the_key_follows_content_format_and_output_settings(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(BASE)
    brief = load_brief(tmp_path / "a.yaml")
    s = Settings(runs_dir=tmp_path, _env_file=None)
    k = asset_key(brief, "512x512", s)
    assert k == asset_key(load_brief(tmp_path / "a.yaml"), "512x512", s)  # stable
    assert k != asset_key(brief, "640x512", s)                           # format
    assert k != asset_key(brief, "512x512", s.model_copy(update={"simulate_errors": 0.3}))
    assert k != asset_key(brief, "512x512", s, seed=1)
    assert k == asset_key(brief, "512x512", s.model_copy(update={"concurrency": 9}))  # no effect
    changed = brief.model_copy(update={"style": "bold"})
    assert k != asset_key(changed, "512x512", s)


def test_bench_inputs_of_two_runs_named_apart_share_no_asset(tmp_path: Path) -> None:
    # bench scale names each run's brief after its queue prefix: on a shared PostgreSQL the
    # second run must make new assets, not meet the first run's intents and runs
    from agents.benchmarks.batch import write_inputs
    s = Settings(runs_dir=tmp_path / "runs", _env_file=None)
    keys = []
    for name in ("bench-aaaa", "bench-bbbb", "bench-aaaa"):
        (tmp_path / name).mkdir(exist_ok=True)
        base, rows = write_inputs(tmp_path / name, 3, 512, name=name)
        items, bad = collect_csv(base, rows, s)
        assert not bad and len(items) == 3
        keys.append({i.key for i in items})
    assert not keys[0] & keys[1]
    assert keys[0] == keys[2]


def test_folders_of_briefs_and_missing_paths(tmp_path: Path, settings: Settings) -> None:
    folder = tmp_path / "briefs"
    folder.mkdir()
    (folder / "a.yaml").write_text(BASE)
    (folder / "b.yaml").write_text(BASE.replace("Placeholder", "Other"))
    (folder / "broken.yaml").write_text("name: [unclosed\n")
    (folder / "notes.txt").write_text("not a brief")
    items, bad = collect_paths([folder], settings)
    assert len(items) == 4 and len({i.key for i in items}) == 4
    assert [Path(b.source).name for b in bad] == ["broken.yaml"]
    with pytest.raises(BatchInputError, match="no such file or folder"):
        collect_paths([tmp_path / "nope"], settings)


# --- running -------------------------------------------------------------------------------
def test_batch_then_again_generates_nothing_and_the_report_lists_every_asset(
        tmp_path: Path) -> None:
    folder = tmp_path / "briefs"
    folder.mkdir()
    (folder / "spring.yaml").write_text(BASE.replace("Placeholder", "Spring <b>Sale</b>")
                                        .replace("formats: [512x512, 640x512]",
                                                 "formats: [512x512]"))
    (folder / "summer.yaml").write_text(BASE.replace("Placeholder", "Summer Deals")
                                        .replace("formats: [512x512, 640x512]",
                                                 "formats: [512x512]"))
    runs = tmp_path / "runs"
    first = _cli(str(folder), "--out", str(runs))
    assert first.returncode == 0, first.stdout + first.stderr
    assert _last(first) == (2, 0, 2, 0, 0)
    again = _cli(str(folder), "--out", str(runs))
    assert again.returncode == 0
    assert _last(again) == (0, 2, 2, 0, 0)
    assert len(list(runs.glob("*/run.json"))) == 2

    report = next((runs / "_batches").iterdir())
    data = json.loads((report / "report.json").read_text())
    assert {i["outcome"] for i in data["items"]} == {"accepted"}
    assert {i["action"] for i in data["items"]} == {"skipped"}

    class Parser(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.imgs: list[str] = []
            self.tags: list[str] = []

        def handle_starttag(self, tag: str, attrs: list) -> None:
            self.tags.append(tag)
            if tag == "img":
                self.imgs.append(dict(attrs)["src"])

    html = (report / "report.html").read_text()
    p = Parser()
    p.feed(html)
    assert len(p.imgs) == 2 and all((report / src).is_file() for src in p.imgs)
    assert "b" not in p.tags  # the copy's markup is escaped, not rendered


def test_copy_that_cannot_fit_is_a_bad_row_and_exit_2(tmp_path: Path) -> None:
    long = " ".join(["Unbelievably"] * 150)
    base, rows = _write(tmp_path, ["headline,price,formats",
                                   "Spring Sale,$5,512x512",
                                   f"{long},$5,512x512"])
    proc = _cli("--brief", str(base), "--csv", str(rows), "--out", str(tmp_path / "runs"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    gen, skipped, accepted, review, failed = _last(proc)
    assert (accepted, failed) == (1, 0)
    assert re.search(r"rows\.csv row 3 512x512: .*cannot fit", proc.stderr), proc.stderr


def test_the_attempt_cap_stops_the_batch_and_fails_what_it_could_not_pay_for(
        tmp_path: Path) -> None:
    base, rows = _write(tmp_path, ["headline,price"] + [f"{h},$5" for h in HEADLINES[:3]])
    runs = tmp_path / "runs"
    proc = _cli("--brief", str(base), "--csv", str(rows), "--out", str(runs),
                "--max-attempts-total", "2", "--concurrency", "1")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    gen, skipped, accepted, review, failed = _last(proc)
    assert accepted == 2 and failed == 4
    assert len(done_entries(runs)) == 2  # the cap: two paid attempts, no more
    # a new invocation counts what was paid before: the cap is for the batch, not the process
    again = _cli("--brief", str(base), "--csv", str(rows), "--out", str(runs),
                 "--max-attempts-total", "2", "--concurrency", "1")
    assert len(done_entries(runs)) == 2 and _last(again)[1] == 2
    # a bigger budget: what failed for lack of budget is tried again, in a new run
    more = _cli("--brief", str(base), "--csv", str(rows), "--out", str(runs),
                "--max-attempts-total", "20")
    assert more.returncode == 0, more.stdout + more.stderr
    assert _last(more)[:3] == (4, 2, 6)
    counts = Counter((run.split("-retry")[0], a, n) for run, a, n, _ in done_entries(runs))
    assert len(counts) == 6 and set(counts.values()) == {1}


def test_run_batch_results_come_back_in_order_with_images(tmp_path: Path,
                                                          settings: Settings) -> None:
    base, rows = _write(tmp_path, ["headline,price,formats", "Spring Sale,$5,512x512",
                                   "Summer Deals,$6,512x512"])
    items, bad = collect_csv(base, rows, settings)
    seen: list[int] = []
    result = run_batch(items, bad, settings, concurrency=2,
                       on_item=lambda r, done, total: seen.append(done))
    assert sorted(seen) == [1, 2]
    assert [r.row for r in result.items] == [2, 3]
    assert all(Path(r.image or "").is_file() for r in result.items)
    assert result.exit_code == 0


# --- killed and run again --------------------------------------------------------------------
@pytest.mark.slow
def test_a_killed_batch_finishes_when_run_again_and_nothing_is_generated_twice(
        tmp_path: Path) -> None:
    rows = ["headline,price"] + [f"{HEADLINES[i % 10]} {i + 1},Only ${i + 5}.99"
                                 for i in range(30)]
    base, csv_path = _write(tmp_path, rows)
    runs = tmp_path / "runs"
    args = ["--brief", str(base), "--csv", str(csv_path), "--out", str(runs),
            "--simulate-errors", "0.3", "--concurrency", "4"]
    log = tmp_path / "first.log"
    with open(log, "wb") as f:
        proc = subprocess.Popen([sys.executable, "-m", "agents.cli", "batch", *args],
                                stdout=f, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "COLUMNS": "200"})
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(done_entries(runs)) < 20:
        assert proc.poll() is None, "finished before it could be killed:\n" + log.read_text()
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    before = {(r, a, n): sha for r, a, n, sha in done_entries(runs)}
    assert before, "nothing was generated before the kill"
    unfinished = [m for m in runs.glob("*/run.json")
                  if json.loads(m.read_text()).get("status") == "running"]
    assert unfinished, "the kill came too late: no run was cut short"

    second = _cli(*args)
    assert second.returncode in (0, 3), second.stdout + second.stderr
    gen, skipped, accepted, review, failed = _last(second)
    assert skipped >= 1 and gen + skipped == 60 and accepted + review == 60 and failed == 0

    done = done_entries(runs)
    counts = Counter((r, a, n) for r, a, n, _ in done)
    assert set(counts.values()) == {1}, "an attempt was generated twice"
    assert all(dict(((r, a, n), s) for r, a, n, s in done)[k] == v for k, v in before.items())
    assert len(list(runs.glob("*/run.json"))) == 60  # one run per asset, none made twice
    manifests = [json.loads(m.read_text()) for m in runs.glob("*/manifest.json")]
    attempts = sum(len(a["attempts"]) for m in manifests for a in m["assets"])
    assert attempts == len(done)  # every paid attempt is one the manifests show

    third = _cli(*args)
    assert third.returncode == second.returncode
    assert _last(third) == (0, 60, accepted, review, 0)
    assert len(done_entries(runs)) == len(done)


def test_bench_batch_reports_wall_against_ideal_and_memory() -> None:
    proc = subprocess.run([sys.executable, "-m", "agents.cli", "bench", "batch", "--assets", "8",
                           "--latency", "0.5", "--concurrency", "4"], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    # (accepted: what QA made of 8 posters at one attempt each; not the batch's business)
    assert re.search(r"ideal=1\.00s \(ceil\(8/4\) x 0\.5s\) accepted=\d/8 max_in_flight=4", out)
    assert re.search(r"rss at half=\d+MB at end=\d+MB", out)
    ratio = float(out.strip().splitlines()[-1].removeprefix("overhead_ratio="))
    assert ratio >= 1.0  # never faster than the backend allows


def test_review_always_holds_every_asset_and_exits_3(tmp_path: Path) -> None:
    base, rows = _write(tmp_path, ["headline,price,formats", "Spring Sale,$5,512x512"])
    proc = _cli("--brief", str(base), "--csv", str(rows), "--out", str(tmp_path / "runs"),
                "--review", "always")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert _last(proc) == (1, 0, 0, 1, 0)
    s = Settings(runs_dir=tmp_path / "runs", _env_file=None)
    plain = s.model_copy(update={"review_policy": None})
    items, _ = collect_csv(base, rows, plain)
    held, _ = collect_csv(base, rows, s.model_copy(update={"review_policy": "always"}))
    assert items[0].key != held[0].key  # the policy changes the outcome: part of the key

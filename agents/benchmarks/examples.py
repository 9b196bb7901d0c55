"""``signwriter bench examples``: the project's own example briefs, end to end, on typeset.

Two questions, answered with counts:

* **clean** — every brief run with no error injected: is every asset accepted? (A correct
  image sent to review is a false reject.)
* **injected** — every brief run with ``--simulate-errors 1.0`` (each attempt carries one
  GLM-Image-like error) for each seed: is any asset accepted on an attempt that carried an
  injected error? (That is an error QA let through; the target is none.)

Each run is the real ``signwriter run`` in a subprocess (so nothing is shared between
runs), and the counts come from each run's ``manifest.json``: an asset's accepting attempt
is its last attempt whose QA passed, and that attempt's ``injected`` list says what was
drawn wrong in it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, Field


class AssetOutcome(BaseModel):
    brief: str
    seed: int | None
    injected_run: bool
    asset_id: str
    status: str
    attempts: int
    accepted_with_error: list[str] = Field(default_factory=list, description="The injected "
                                           "errors of the accepting attempt (kind: rendered).")


class ExamplesResult(BaseModel):
    clean_assets: int
    clean_accepted: int
    clean_not_accepted: list[str]
    injected_assets: int
    injected_accepted: int
    injected_accepted_with_error: list[str]
    runs_failed: list[str]
    outcomes: list[AssetOutcome]


def run_examples(briefs: list[Path], seeds: list[int], out: Path, *, max_attempts: int = 3,
                 clean_seed: int = 7, timeout_s: float = 1800,
                 progress: Callable[[str, int, int], None] | None = None) -> ExamplesResult:
    """Run each brief once clean (seed ``clean_seed``) and once per seed with every attempt
    carrying an injected error; runs go under ``out``."""
    jobs = [(b, clean_seed, False) for b in briefs] + [(b, s, True) for b in briefs for s in seeds]
    outcomes: list[AssetOutcome] = []
    failed: list[str] = []
    for k, (brief, seed, injected) in enumerate(jobs):
        cmd = [sys.executable, "-m", "agents.cli", "run", str(brief), "--backend", "typeset",
               "--seed", str(seed), "--max-attempts", str(max_attempts), "--out", str(out),
               "--simulate-errors", "1.0" if injected else "0.0", "--json"]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
        try:
            manifest = json.loads(proc.stdout[proc.stdout.index("{"):])
        except ValueError:
            failed.append(f"{brief.name} seed {seed}: exit {proc.returncode}: "
                          f"{(proc.stderr or proc.stdout).strip()[-200:]}")
            manifest = None
        if manifest is not None:
            outcomes += outcomes_of(manifest, brief.name, seed if injected else None, injected)
        if progress:
            progress("running the example briefs", k + 1, len(jobs))
    clean = [o for o in outcomes if not o.injected_run]
    dirty = [o for o in outcomes if o.injected_run]
    return ExamplesResult(
        clean_assets=len(clean), clean_accepted=sum(o.status == "accepted" for o in clean),
        clean_not_accepted=[f"{o.brief} {o.asset_id}: {o.status}" for o in clean
                            if o.status != "accepted"],
        injected_assets=len(dirty), injected_accepted=sum(o.status == "accepted" for o in dirty),
        injected_accepted_with_error=[
            f"{o.brief} seed {o.seed} {o.asset_id}: {', '.join(o.accepted_with_error)}"
            for o in dirty if o.accepted_with_error],
        runs_failed=failed, outcomes=outcomes)


def outcomes_of(manifest: dict, brief: str, seed: int | None, injected: bool
                ) -> list[AssetOutcome]:
    out = []
    for asset in manifest.get("assets", []):
        attempts = asset.get("attempts") or []
        wrong: list[str] = []
        if asset.get("status") == "accepted":
            passing = [a for a in attempts if (a.get("qa") or {}).get("passed")]
            if passing:
                wrong = [f"{i.get('kind')}: {i.get('rendered')!r}"
                         for i in passing[-1].get("injected") or []]
        out.append(AssetOutcome(brief=brief, seed=seed, injected_run=injected,
                                asset_id=asset.get("asset_id", "?"),
                                status=asset.get("status", "?"), attempts=len(attempts),
                                accepted_with_error=wrong))
    return out


def format_examples(r: ExamplesResult) -> str:
    lines = ["Example briefs on typeset, end to end", "",
             f"no error injected:      {r.clean_accepted}/{r.clean_assets} assets accepted"]
    lines += [f"  not accepted: {x}" for x in r.clean_not_accepted]
    lines.append(f"every attempt injected: {r.injected_accepted}/{r.injected_assets} assets "
                 f"accepted, {len(r.injected_accepted_with_error)} of them with an injected "
                 f"error (target 0)")
    lines += [f"  ACCEPTED WITH ERROR: {x}" for x in r.injected_accepted_with_error]
    lines += [f"run failed: {x}" for x in r.runs_failed]
    return "\n".join(lines)

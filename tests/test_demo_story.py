"""`phm demo --duration 300` as a new user runs it (first-start training included), checked
against the simulator's truth by `phm bench story` (issue 18, "Done when"): every alert's
headline agrees with its top cause or says it does not, a failing pump's RUL never rises while
its alert is open, no healthy pump gets a finite RUL, and the ion mill fault is alerted.

The slowest test of the suite (about 6 minutes on 2 cores): the demo's models are trained as
at a first start, then the plant runs its 300 s."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from phm.bench.story import story, summary

ROOT = Path(__file__).parents[1]


def test_a_300_s_demo_tells_one_coherent_story(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "phm", "demo", "--store", str(tmp_path), "--duration", "300",
         "--dashboard-port", "0"],
        cwd=ROOT, capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    head = summary(story(tmp_path / "live"))
    print(head)
    assert head["alerts"] >= 2  # the simulated faults are seen at all
    assert head["headline_incoherent"] == 0
    assert head["rul_alerts"] >= 1 and head["rul_rises"] == 0
    assert head["healthy_assets"] >= 2 and head["healthy_finite_rul"] == 0
    assert head["ion_mill_faults"] >= 1
    assert head["ion_mill_alerted"] == head["ion_mill_faults"]

"""The answer checkers against a careful grader on the adversarial suite, this tree vs a baseline.

The suite is tests/domains/checker_cases.py (checker, reference, completion, grader's verdict).
The baseline is `domains/checkers.py` as of a git revision (default: the one before the hedge and
surface-form rules), loaded side by side in the same process. Counts agreement with the grader,
raises, and the slowest single check.

    .venv/bin/python benchmarks/checkers.py [--baseline e2e9841]

Last line: `checkers: cases=N agree=A baseline_agree=B raises=R baseline_raises=S hung=H baseline_hung=G
slowest_s=T wall_s=W` (hung: a check still running after 20 s, stopped;
slowest_s includes forking a child per case).
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing as mp
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from synthloop.domains import checkers as current

from tests.domains.checker_cases import ANNOTATED, CASES


def load_baseline(rev: str):
    src = subprocess.run(["git", "show", f"{rev}:domains/checkers.py"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    path = Path(tempfile.mkdtemp()) / "baseline_checkers.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("baseline_checkers", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def _in_child(fn, limit_s: float):
    """fn() in a forked child, stopped after `limit_s`: a huge integer power in C cannot be
    interrupted by a signal in this process. Returns ('ok', value), ('raised', name) or ('hung', None)."""
    ctx = mp.get_context("fork")
    q = ctx.Queue()

    def target():
        try:
            q.put(("ok", fn()))
        except Exception as e:  # noqa: BLE001 - counting raises is the point
            q.put(("raised", type(e).__name__))

    p = ctx.Process(target=target)
    p.start()
    p.join(limit_s)
    if p.is_alive():
        p.kill()
        p.join()
        return "hung", None
    return q.get(timeout=5) if not q.empty() else ("raised", f"exit {p.exitcode}")


def run(mod, label: str, limit_s: float = 20.0) -> dict:
    agree, raises, hung, slowest, wrong = 0, 0, 0, 0.0, []
    for kind, ref, completion, verdict in CASES:
        c = mod.Checker("pattern", pattern=kind) if kind in ("####", "A:", "boxed") else mod.Checker(kind)
        t0 = time.perf_counter()
        status, got = _in_child(lambda c=c, ref=ref, completion=completion: c.check(ref, completion)[0], limit_s)
        slowest = max(slowest, time.perf_counter() - t0)
        raises += status == "raised"
        hung += status == "hung"
        if status == "ok" and got is verdict:
            agree += 1
        else:
            wrong.append(f"{kind} {ref!r} {completion[:40]!r}: grader {verdict}, {label} "
                         f"{got if status == 'ok' else status + (' ' + got if got else '')}")
    for ref, completion, *_ in ANNOTATED:  # calculator annotations: only "does it raise"
        try:
            mod.classify_annotations(completion, True, ref)
        except Exception:  # noqa: BLE001
            raises += 1
    return {"agree": agree, "raises": raises, "hung": hung, "slowest": slowest, "wrong": wrong}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", default="e2e9841", help="git revision of the baseline checkers")
    args = ap.parse_args()
    t0 = time.perf_counter()
    base = run(load_baseline(args.baseline), "baseline")
    now = run(current, "now")
    for line in base["wrong"]:
        print("baseline:", line)
    for line in now["wrong"]:
        print("now:", line)
    print(f"checkers: cases={len(CASES)} agree={now['agree']} baseline_agree={base['agree']} raises={now['raises']} "
          f"baseline_raises={base['raises']} hung={now['hung']} baseline_hung={base['hung']} slowest_s={now['slowest']:.2f} wall_s={time.perf_counter() - t0:.1f}")


if __name__ == "__main__":
    main()

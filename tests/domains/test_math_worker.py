"""The math checker's time limit: a check that keeps sympy busy is cut off and counted wrong, from a
worker thread too (where math-verify's own SIGALRM time-outs cannot work), and the helper process
it ran in neither blocks the next check nor outlives its parent."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import psutil
import pytest
from synthloop.domains import math_worker
from synthloop.domains.checkers import Checker
from synthloop.domains.file import FileDomain, verify_answer
from synthloop.filters.verify import VerifyConfig, policy

# Both pass the pattern pre-check (no tower, no big exponent or factorial of a big literal) but keep
# sympy busy: the first was still comparing after 40 s, the second after 10 s (2026-12-02, load
# ~2.7), 50-200 times the 0.2 s limit used here. Before the time limit either hung the filter stage.
SLOW = "so \\boxed{(\\sin(x)+\\cos(x)+\\tan(x))^{40}}"
SLOW_REF = "\\sin(x)^{2}"
SLOW_FACTORIAL = "\\boxed{(99!)!}"


def in_thread(fn, *args):
    """fn(*args) in another thread, as a Prefect task runs; its result, or its exception raised here."""
    out = []

    def run():
        try:
            out.append((True, fn(*args)))
        except Exception as e:  # noqa: BLE001 - handed back to the caller
            out.append((False, e))

    t = threading.Thread(target=run)
    t.start()
    t.join()
    ok, value = out[0]
    if not ok:
        raise value
    return value


def test_math_verify_own_time_outs_do_not_work_off_the_main_thread():
    from math_verify import parse

    with pytest.raises(ValueError, match="threaded environment"):
        in_thread(lambda: parse("$1$", parsing_timeout=5))  # so the checker runs it without them


def test_a_slow_check_from_a_worker_thread_is_cut_off_and_wrong():
    c = Checker("math", time_limit=0.2)
    for ref, text in ((SLOW_REF, SLOW), ("1", SLOW_FACTORIAL)):
        # Start the helper first (a time-out killed the last one): its imports take seconds on a busy
        # machine and are not what is timed, so the bound below has ~100x headroom under any load.
        assert math_worker.compare(["1"], ["1"], 120) == {"gold": True, "ok": True}
        t0 = time.monotonic()
        assert in_thread(c.judge, ref, text) == (False, text.strip(), "timeout")
        assert time.monotonic() - t0 < 30  # cut off at 0.2 s, not minutes
    v = in_thread(verify_answer, c, SLOW_REF, SLOW)
    assert (v.correct, v.error_kind) == (False, "timeout")
    assert policy(v, VerifyConfig()) == "wrong_answer"
    # The helper was killed and the next check gets a fresh one: right answers are still right.
    assert in_thread(c.judge, "\\frac{1}{2}", "the answer is $0.5$") == (True, "the answer is $0.5$", None)
    assert c.check("x+1", "\\boxed{1+x}") == (True, "\\boxed{1+x}")


def test_time_limit_is_checked(tmp_path):
    (tmp_path / "p.jsonl").write_text('{"prompt": "1+1?", "answer": "2"}\n')
    for bad in (0, -1, float("nan"), float("inf"), True, "5"):
        with pytest.raises(ValueError, match="time_limit"):
            Checker("math", time_limit=bad)
        with pytest.raises(ValueError, match="time_limit"):
            FileDomain(str(tmp_path / "p.jsonl"), checker="math", time_limit=bad)


def _alive(proc: psutil.Process) -> bool:
    """Running, and not a zombie its new parent has yet to reap (an init that does not reap)."""
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_the_helper_dies_with_its_parent():
    # A parent starts a slow check with a long limit and is SIGKILLed: nobody closes the helper's
    # stdin in time, its watchdog ends it.
    script = textwrap.dedent(f"""
        import sys
        from synthloop.domains import math_worker
        math_worker.compare(["1"], ["1"], 60)
        print(math_worker._child.proc.pid, flush=True)
        math_worker.compare([{SLOW_REF!r}], [{SLOW!r}], 600)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    child = psutil.Process(int(parent.stdout.readline()))
    time.sleep(0.5)  # the slow comparison is under way
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 60  # the watchdog polls every 0.5 s
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child)
    assert math_worker.compare(["2"], ["2"], 60) == {"gold": True, "ok": True}

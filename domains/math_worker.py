"""math-verify in a helper process with a deadline: the `math` checker's real time limit.

sympy cannot be interrupted from outside. math-verify's own time-outs use `signal.alarm`, which
works only in the main thread: called with them from a worker thread (Prefect runs tasks in
threads) `parse`/`verify` raise ValueError ("signal only works in main thread"), so the checker
runs them with the time-outs off, and an input that keeps sympy busy would hang the filter stage.
A thread with a time-out would return on time but leave its sympy call running (it holds the GIL
half the time and its memory, for as long as the expression takes, maybe forever), and every later
slow input would add one more. So the comparison runs in one persistent child process per parent
process: a request is a line of JSON on its stdin, the answer a line on its stdout. When the answer
is not back within the limit, the child is killed (SIGKILL: nothing to interrupt, nothing to
clean) and the next check starts a fresh one; that restart (~0.5 s of imports here) is what a
time-out costs, and the pipe ~0.6 ms a check (GSM8K's answers: 750 checks/s against 1,460 in
process, 2026-12-02, load ~1.5). The child's start-up is not counted against the limit.

The child exits when its stdin closes (the parent ended) or its parent dies (a watchdog thread:
Python switches to it every few ms even while sympy runs), and its address space is capped, so a
blow-up ends in a MemoryError (a wrong answer) rather than in the machine's swap.

Run as a script (`python math_worker.py`) it is the child; it imports nothing from synthloop.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import subprocess
import sys
import threading
import time

START_TIMEOUT_S = 120  # imports of sympy and math-verify: ~0.5 s here, far more on a busy machine
MEMORY_CAP = 2 << 30  # the child's address space (bytes); python + sympy + math-verify map ~0.15 GB


class _Child:
    """One helper process, used by one request at a time."""

    def __init__(self):
        self.lock = threading.Lock()
        self.proc: subprocess.Popen | None = None

    def ask(self, request: dict, limit_s: float) -> dict | None:
        """The child's answer to `request`, or None when it took longer than `limit_s` (or died)."""
        with self.lock:
            if self.proc is None or self.proc.poll() is not None:
                self._start()
            try:
                self.proc.stdin.write(json.dumps(request).encode() + b"\n")
                self.proc.stdin.flush()
                line = self._read_line(time.monotonic() + limit_s)
            except OSError:  # the child died under us (a broken pipe)
                line = None
            if line is None:
                self.stop()
                return None
            return json.loads(line)

    def _read_line(self, deadline: float, buf: bytes = b"") -> bytes | None:
        fd = self.proc.stdout.fileno()
        while not buf.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None  # the deadline passed
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return None  # the child died: its answer is lost, as after a time-out
            buf += chunk
        return buf

    def _start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-P", __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        if self._read_line(time.monotonic() + START_TIMEOUT_S) != b"ready\n":
            self.stop()
            raise RuntimeError(f"the math checker's helper process did not start within {START_TIMEOUT_S} s")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            for f in (self.proc.stdin, self.proc.stdout):
                f.close()
            self.proc = None


_child = _Child()
_hooks_installed = False


def _reset_after_fork() -> None:
    global _child
    _child = _Child()  # the parent's child (and maybe its held lock) stay the parent's


def _install_hooks() -> None:
    """At the first check, not on import: stop the child at exit, and give a forked process a child
    of its own (before the first check there is no child to stop and no held lock to inherit).
    No lock: a fork while one is held would leave it held in the forked process; two threads that
    both register at once only register twice, and both hooks are harmless when repeated."""
    global _hooks_installed
    if not _hooks_installed:
        _hooks_installed = True
        atexit.register(lambda: _child.stop())
        os.register_at_fork(after_in_child=_reset_after_fork)


def compare(golds: list[str], preds: list[str], limit_s: float) -> dict | None:
    """{"gold": the first of `golds` that parses did, "ok": it equals every one of `preds`}, or None
    when that took longer than `limit_s` seconds.

    >>> compare(["\\\\frac{1}{2}"], ["$0.5$"], limit_s=60)
    {'gold': True, 'ok': True}
    """
    _install_hooks()
    return _child.ask({"golds": golds, "preds": preds}, limit_s)


# -- the child ----------------------------------------------------------------------------------


def _answer(golds: list[str], preds: list[str]) -> dict:
    from math_verify import parse, verify

    # Time-outs off: they would be SIGALRM-based; the parent's deadline is the limit.
    def parsed(text):
        try:
            return parse(text, parsing_timeout=None)
        except Exception:  # noqa: BLE001 - malformed LaTeX raises many kinds; it is not an answer
            return []

    gold = next((g for g in map(parsed, golds) if g), None)
    if not gold:
        return {"gold": False, "ok": False}
    for t in preds:
        pred = parsed(t)
        if not (pred and verify(gold, pred, timeout_seconds=None)):
            return {"gold": True, "ok": False}
    return {"gold": True, "ok": bool(preds)}


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)  # the parent died while sympy was busy: nobody will read the answer


def _serve() -> None:
    import logging
    import resource

    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    cap = MEMORY_CAP if hard == resource.RLIM_INFINITY else min(MEMORY_CAP, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))  # never above what we were given
    logging.disable(logging.WARNING)  # math-verify warns on every call that its time-outs are off
    _answer(["1"], ["1"])  # imports sympy and math-verify now: start-up is not counted against the limit

    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    out = sys.stdout.buffer
    out.write(b"ready\n")
    out.flush()
    for line in sys.stdin.buffer:
        req = json.loads(line)
        try:
            ans = _answer(req["golds"], req["preds"])
        except Exception as e:  # noqa: BLE001 - verify on odd input, MemoryError at the cap: not a match
            ans = {"gold": False, "ok": False, "error": type(e).__name__}
        out.write(json.dumps(ans).encode() + b"\n")
        out.flush()


if __name__ == "__main__":
    _serve()

"""Fault injection for the checkpoint write (benchmarks/faults.py and tests/training use it).

With `SYNTHLOOP_FAULT=checkpoint-write:K:N[:SIG]` in the environment, this process's K-th
checkpoint write (1-based, counting every `train` call in the process) is hit by SIG once N bytes
of its `.tmp` file are on disk: a kill inside the write, placed on purpose rather than by luck (a
write takes milliseconds). Unset, as in every normal run, `checkpoint_file` hands back the path
itself and torch writes to it as it always does.

- `KILL` (the default): torch writes through a file object that SIGKILLs the process once exactly
  N bytes are on disk.
- `TERM`: a thread sends SIGTERM once the file has N bytes, and torch writes to the path as usual.
  Python runs a signal handler only between bytecodes, so, as with a SIGTERM from another process,
  the run's handler runs at torch.save's next record or once it returns (from inside a Python file
  object instead, the handler's exception would tear torch's zip writer: a failure no real signal
  causes).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

ENV = "SYNTHLOOP_FAULT"
_writes = 0  # checkpoint writes so far in this process


class _KillAt:
    """A file that SIGKILLs its own process once `n` bytes are written to it."""

    def __init__(self, path: Path, n: int):
        self.f, self.left = open(path, "wb"), n  # noqa: SIM115 - never closed: the process dies in it

    def write(self, b) -> int:
        b = bytes(b)
        if len(b) >= self.left:
            self.f.write(b[: self.left])
            self.f.flush()  # the partial file is on disk, as after a kill from outside
            os.kill(os.getpid(), signal.SIGKILL)
        self.left -= len(b)
        return self.f.write(b)

    def flush(self) -> None:
        self.f.flush()


def _signal_at(path: Path, n: int, sig: signal.Signals, limit_s: float = 60.0) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            if path.stat().st_size >= n:
                break
        except OSError:  # not created yet
            pass
        time.sleep(1e-4)
    os.kill(os.getpid(), sig)


def checkpoint_file(tmp: Path) -> Path | _KillAt:
    """Where `torch.save` writes a checkpoint: `tmp`, or a file that kills the process mid-write."""
    global _writes
    _writes += 1
    kind, _, where = os.environ.get(ENV, "").partition(":")
    if kind != "checkpoint-write":
        return tmp
    k, n, *name = where.split(":")
    if _writes != int(k):
        return tmp
    sig = signal.Signals[f"SIG{name[0] if name else 'KILL'}"]
    if sig == signal.SIGKILL:
        return _KillAt(tmp, int(n))
    threading.Thread(target=_signal_at, args=(tmp, int(n), sig), daemon=True).start()
    return tmp

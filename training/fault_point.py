"""Fault injection for the checkpoint write (benchmarks/faults.py and tests/training use it).

With `SYNTHLOOP_FAULT=checkpoint-write:K:N` in the environment, this process's K-th checkpoint
write (1-based, counting every `train` call in the process) SIGKILLs the process once N bytes of
its `.tmp` file are on disk: a kill inside the write, placed on purpose rather than by luck
(a write takes milliseconds). Unset, as in every normal run, `checkpoint_file` hands back the path
itself and torch writes to it as it always does.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

ENV = "SYNTHLOOP_FAULT"
_writes = 0  # checkpoint writes so far in this process


class _KillAfter:
    """A file that SIGKILLs its own process once `n` bytes are written to it."""

    def __init__(self, path: Path, n: int):
        self.f, self.left = open(path, "wb"), n  # noqa: SIM115 - never closed: the process dies first

    def write(self, b) -> int:
        if len(b) >= self.left:
            self.f.write(bytes(b)[: self.left])
            self.f.flush()  # the partial file is on disk, as after a kill from outside
            os.kill(os.getpid(), signal.SIGKILL)
        self.left -= len(b)
        return self.f.write(b)

    def flush(self) -> None:
        self.f.flush()


def checkpoint_file(tmp: Path) -> Path | _KillAfter:
    """Where `torch.save` writes a checkpoint: `tmp`, or a file that kills the process mid-write."""
    global _writes
    _writes += 1
    kind, _, where = os.environ.get(ENV, "").partition(":")
    if kind != "checkpoint-write":
        return tmp
    k, n = (int(x) for x in where.split(":"))
    return _KillAfter(tmp, n) if _writes == k else tmp

"""Progress and stage summaries that reach a log file, CI and the Prefect UI, not only a terminal.

In a terminal a long stage shows a tqdm bar. Anywhere else (a log file, CI, a scheduler), where a
bar would be off, it logs a line at a steady pace instead (`SYNTHLOOP_PROGRESS_SECONDS`, 30 s by
default): what, how far, how fast.

    synthloop: round 2: generate part 0: 1,536/6,400 (24%), 85.1/s, ~57s left

`say` is how a stage reports its one-line summary: to Prefect's run logger while a flow or task
runs (the UI's Logs tab), and to stderr. Prefect is never imported here: a run logger exists only
when the caller already runs under Prefect.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable


def interval() -> float:
    """Seconds between progress lines outside a terminal."""
    return float(os.environ.get("SYNTHLOOP_PROGRESS_SECONDS", "30"))


def _run_logger():
    if "prefect" not in sys.modules:  # not running under Prefect: nothing to send to
        return None
    from prefect import get_run_logger
    from prefect.exceptions import MissingContextError

    try:
        return get_run_logger()
    except MissingContextError:
        return None


def say(text: str) -> None:
    """One line for the log: Prefect's run logger (the UI) when there is a run, and stderr."""
    log = _run_logger()
    if log is not None:
        log.info(text)
    print(f"synthloop: {text}", file=sys.stderr, flush=True)


def _duration(s: float) -> str:
    """
    >>> _duration(42.4), _duration(125), _duration(7300)
    ('42s', '2m05s', '2h01m')
    """
    s = round(s)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class Progress:
    """A bar in a terminal, a line every `every` seconds elsewhere; `update(n)` as work is done.

    >>> t = iter(range(0, 1000, 10)).__next__  # a clock that moves 10 s per reading
    >>> lines = []
    >>> with Progress(100, "generate", every=15, clock=t, tty=False, out=lines.append) as p:
    ...     for _ in range(4):
    ...         p.update(25)
    >>> lines
    ['generate: 50/100 (50%), 2.5/s, ~20s left', 'generate: done, 100 in 50s (2/s)']
    """

    def __init__(self, total: int, desc: str, *, every: float | None = None, clock: Callable[[], float] = time.monotonic,
                 tty: bool | None = None, out: Callable[[str], None] = say):
        self.total, self.desc, self.n = total, desc, 0
        self.every = interval() if every is None else every
        self.clock, self.out, self.postfix = clock, out, ""
        self.tty = sys.stderr.isatty() if tty is None else tty
        self.start = self.last = clock()
        self.bar = None
        if self.tty:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True)

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.bar is not None:
            self.bar.update(n)
            return
        now = self.clock()
        if now - self.last >= self.every and self.n < self.total:
            self.last = now
            rate = self.n / max(now - self.start, 1e-9)
            left = f", ~{_duration((self.total - self.n) / rate)} left" if rate > 0 else ""
            self.out(f"{self.desc}: {self.n:,}/{self.total:,} ({100 * self.n / max(self.total, 1):.0f}%), "
                     f"{rate:.3g}/s{left}{self.postfix}")

    def set_postfix(self, **values) -> None:
        """Extra figures (e.g. loss) for the bar and the next line."""
        self.postfix = "".join(f", {k} {v}" for k, v in values.items())
        if self.bar is not None:
            self.bar.set_postfix(**values)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            return
        took = self.clock() - self.start
        if self.n:
            self.out(f"{self.desc}: done, {self.n:,} in {_duration(took)} ({self.n / max(took, 1e-9):.3g}/s){self.postfix}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

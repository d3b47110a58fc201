"""Prefect's temporary API server, started by us so that it can neither hang nor outlive the run.

With no `PREFECT_API_URL`, Prefect starts a uvicorn child on first use and stops it at exit. Two
ways that went wrong (issue 13): a SIGKILLed or SIGTERMed run never reaches its exit handlers, so
the server stayed behind as an orphan (11 of 18 kills, one still up 13 minutes later); and on a
busy machine its 20 s start-up could time out, a raw traceback. Here the child is started from the
main thread with a parent-death signal (Linux `PR_SET_PDEATHSIG`: the kernel sends it SIGTERM when
the process that started it dies, however that happens), and a start-up time-out is one line.

Prefect's server object is one per port; ours is registered as that one, so every later client
of the run finds it running and uses it.

`launch()` starts the child early, before the command imports torch and the model code (~8 s):
the server's own start-up (imports, a database migration on a fresh PREFECT_HOME) runs beside
them on another core instead of after them, and `start()` then finds it up or nearly so.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from synthloop.errors import UserError

_PR_SET_PDEATHSIG = 1
try:  # looked up here, not in the forked child (a dlopen there could meet a lock held at fork)
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux: the exit handler still stops it on a clean end
    _prctl = None


class PrefectStartTimeout(UserError):
    """Prefect's temporary server did not answer in time."""


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))


# (port, process) of a child started by `launch()` and not yet taken over by `start()`.
_launched: tuple[int, subprocess.Popen] | None = None


def _api_url_set() -> bool:
    """PREFECT_API_URL in the environment or the active profile (then no temporary server is wanted)."""
    if os.environ.get("PREFECT_API_URL"):
        return True
    from prefect.settings import PREFECT_API_URL  # reads the profile too (~1.5 s of imports)

    return bool(PREFECT_API_URL.value())


def _uvicorn(port: int, settings_env: dict[str, str]) -> subprocess.Popen:
    """Prefect 3.8.8's command for its temporary server, plus the parent-death signal."""
    spec = importlib.util.find_spec("prefect")  # its location only: importing prefect costs ~1.5 s
    app_dir = Path(spec.origin).parent.parent
    env = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--app-dir", str(app_dir), "--factory",
         "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "error", "--lifespan", "on"],
        env={**os.environ, **env, **settings_env},
        preexec_fn=_die_with_parent,  # noqa: PLW1509 - one prctl call, nothing that takes a lock
    )


def launch() -> None:
    """Start the temporary server's child now, without waiting for it; `start()` waits. A no-op when
    PREFECT_API_URL is set or a child is already launched. From the main thread (see `start`)."""
    global _launched
    if _launched is not None or threading.current_thread() is not threading.main_thread() or _api_url_set():
        return
    with socket.socket() as s:  # a free port now; if another process takes it first, start() retries
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # The settings come from the environment and the profile, which the child reads as we would.
    _launched = (port, _uvicorn(port, {}))


def discard() -> None:
    """Stop a child `launch()` started that `start()` never took over (the command ended before it)."""
    global _launched
    if _launched is None:
        return
    proc, _launched = _launched[1], None
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def launched(enabled: bool = True):
    """`launch()` on entry (when `enabled`); on exit, `discard()` the child if `start()` did not take it
    (a config mistake, a refused lock): a command run in-process, by a test or a library, leaves nothing."""
    if enabled:
        launch()
    try:
        yield
    finally:
        discard()


def start(timeout_s: float | None = None) -> str | None:
    """Start the temporary server now (no-op with `PREFECT_API_URL` set); its API URL or None.

    Call it from the main thread: the parent-death signal follows the thread that started the
    child, and the main thread lives as long as the run does.
    """
    from prefect.server.api import server as api_server
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS

    if PREFECT_API_URL.value():
        discard()  # a server was named after launch(): the early child is not needed
        return None
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("start the Prefect server from the main thread")

    class Server(api_server.SubprocessASGIServer):
        def _run_uvicorn_command(self) -> subprocess.Popen:
            global _launched
            if _launched is not None and _launched[0] == self.port:  # launch()'s child, on this port
                proc, _launched = _launched[1], None
                return proc
            from prefect.settings import get_current_settings

            return _uvicorn(self.port, get_current_settings().to_environment_variables(exclude_unset=True))

    instances = api_server.SubprocessASGIServer._instances
    if instances.get(None) is not None and not instances[None].running:
        del instances[None]  # a stopped one of Prefect's own: ours takes its place
    server = instances.get(None) or Server()
    if _launched is not None and not server.running:
        server.port = _launched[0]  # Prefect's start() takes this port and our child (exit 3: port taken, a new one)
    else:  # a server already runs: the early child (if any) is not needed
        discard()
    limit = timeout_s or PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value()
    try:
        server.start(timeout=int(limit))
    except RuntimeError as e:
        if "ephemeral Prefect API server" not in str(e):
            raise
        raise PrefectStartTimeout(
            f"Prefect's temporary server did not start within {limit:.0f} s (a busy machine, or a first "
            "start on a fresh PREFECT_HOME); rerun, raise PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, "
            "or start one with `prefect server start` and set PREFECT_API_URL=http://127.0.0.1:4200/api"
        ) from None
    return server.api_url

"""Prefect's temporary API server, started by us so that it can neither hang nor outlive the run.

With no `PREFECT_API_URL`, Prefect starts a uvicorn child on first use and stops it at exit. Two
ways that went wrong (issue 13): a SIGKILLed or SIGTERMed run never reaches its exit handlers, so
the server stayed behind as an orphan (11 of 18 kills, one still up 13 minutes later); and on a
busy machine its 20 s start-up could time out, a raw traceback. Here the child is started from the
main thread with a parent-death signal (Linux `PR_SET_PDEATHSIG`: the kernel sends it SIGTERM when
the process that started it dies, however that happens), and a start-up time-out is one line.

Prefect's server object is one per port; ours is registered as that one, so every later client
of the run finds it running and uses it.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading

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


def start(timeout_s: float | None = None) -> str | None:
    """Start the temporary server now (no-op with `PREFECT_API_URL` set); its API URL or None.

    Call it from the main thread: the parent-death signal follows the thread that started the
    child, and the main thread lives as long as the run does.
    """
    from prefect.server.api import server as api_server
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS

    if PREFECT_API_URL.value():
        return None
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("start the Prefect server from the main thread")

    class Server(api_server.SubprocessASGIServer):
        def _run_uvicorn_command(self) -> subprocess.Popen:
            # Prefect 3.8.8's command, plus the parent-death signal.
            import prefect
            from prefect.settings import get_current_settings

            env = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
            return subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "--app-dir", str(prefect.__module_path__.parent), "--factory",
                 "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(self.port),
                 "--log-level", "error", "--lifespan", "on"],
                env={**os.environ, **env, **get_current_settings().to_environment_variables(exclude_unset=True)},
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - one prctl call, nothing that takes a lock
            )

    instances = api_server.SubprocessASGIServer._instances
    if instances.get(None) is not None and not instances[None].running:
        del instances[None]  # a stopped one of Prefect's own: ours takes its place
    server = instances.get(None) or Server()
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

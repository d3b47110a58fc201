"""Drive headless Chromium over the DevTools protocol: load a page, collect console errors and
uncaught exceptions, evaluate JavaScript, take a full-page screenshot. Test helper only."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from websockets.sync.client import connect

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--remote-debugging-port=0", "--window-size=1280,1000"]


def available() -> str | None:
    """None when Chromium can run here, else why not (the test then skips with that reason)."""
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing: `make test` installs Debian's chromium (apt-get) when it can"
    return None


class Page:
    def __init__(self, timeout: float = 60):
        self.profile = tempfile.mkdtemp(prefix="chromium-profile-")
        # Chromium's stderr goes to a file, not a pipe: a full pipe nobody reads would stall it.
        self.log = Path(self.profile) / "stderr.log"
        with open(self.log, "w") as err:
            self.proc = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={self.profile}/p", "about:blank"],
                                         stderr=err, stdout=subprocess.DEVNULL)
        port = None
        deadline = time.time() + timeout
        while port is None and time.time() < deadline:
            m = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", self.log.read_text(errors="replace"))
            port = m and int(m.group(1))
            if port is None and self.proc.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            time.sleep(0.05)
        if port is None:
            raise RuntimeError("chromium did not open its DevTools port")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        targets = json.load(opener.open(f"http://127.0.0.1:{port}/json/list", timeout=10))
        ws_url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        self.ws = connect(ws_url, max_size=None, open_timeout=10)
        self.next_id = 0
        self.events: list[dict] = []
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")

    def call(self, method: str, timeout: float = 60, **params) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        deadline = time.time() + timeout
        while time.time() < deadline:
            msg = json.loads(self.ws.recv(timeout=timeout))
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]
            self.events.append(msg)
        raise TimeoutError(method)

    def wait_for(self, event: str, timeout: float = 60) -> None:
        deadline = time.time() + timeout
        if any(e.get("method") == event for e in self.events):
            return
        while time.time() < deadline:
            msg = json.loads(self.ws.recv(timeout=timeout))
            self.events.append(msg)
            if msg.get("method") == event:
                return
        raise TimeoutError(event)

    def goto(self, url: str) -> None:
        self.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def eval(self, js: str):
        res = self.call("Runtime.evaluate", expression=js, returnByValue=True)
        if "exceptionDetails" in res:
            raise RuntimeError(f"{js}: {res['exceptionDetails']}")
        return res["result"].get("value")

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and failed loads seen so far."""
        self.eval("0")  # flush pending events
        out = []
        for e in self.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.exceptionThrown":
                out.append(f"exception: {p['exceptionDetails'].get('exception', {}).get('description') or p['exceptionDetails']['text']}")
            elif m == "Runtime.consoleAPICalled" and p["type"] in ("error", "assert"):
                out.append("console.error: " + " ".join(str(a.get("value", a.get("description"))) for a in p["args"]))
            elif m == "Log.entryAdded" and p["entry"]["level"] == "error":
                out.append(f"log: {p['entry']['text']} {p['entry'].get('url', '')}")
        return out

    def screenshot(self, path: Path) -> None:
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        shot = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                         clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
        path.write_bytes(base64.b64decode(shot["data"]))

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

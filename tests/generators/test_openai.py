"""`backend: openai` against a real server: vLLM's OpenAI server (the CPU build, `.venv-vllm`)
serving the built-in model on 127.0.0.1, started and stopped here, once for the module.

Retries are checked through a small proxy on 127.0.0.1 that answers 429 and 503 before passing
requests on to that server, so what comes back is still the real server's answer.
"""

import http.server
import os
import socket
import subprocess
import threading
import time
import urllib.request

import pytest
from synthloop.domains import get_domain
from synthloop.generators import PortfolioEntry, Request, Sampler, generate_rows
from synthloop.generators.openai import OpenAIBackend, OpenAIConfig, ServerError
from synthloop.generators.vllm import WORKER_ENV, check_available

from synthloop.errors import UserError

PROMPTS = [p.prompt for p in get_domain("addition").make_problems(24, 321, [1, 2, 3, 4])]
GREEDY40 = Sampler("g", temperature=0.0, max_new_tokens=40)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(model_dir, tmp_path_factory):
    """base_url of vLLM's OpenAI server on the built-in model (ready in ~1-3 min on 2 busy cores)."""
    port, log = free_port(), tmp_path_factory.mktemp("server") / "vllm-server.log"
    cmd = [check_available(), "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir),
           "--served-model-name", "builtin", "--host", "127.0.0.1", "--port", str(port),
           "--dtype", "float32", "--max-model-len", "192", "--enforce-eager", "--disable-log-stats",
           "--no-enable-chunked-prefill"]  # seeded requests on CPU need whole prompts (generators/vllm_worker.py)
    env = os.environ | {k: os.environ.get(k, v) for k, v in WORKER_ENV.items() if k != "VLLM_ENABLE_V1_MULTIPROCESSING"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 600
        while True:
            assert proc.poll() is None, f"vLLM's server exited: {log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, f"vLLM's server not ready in 600 s: {log.read_text()[-2000:]}"
            try:
                urllib.request.urlopen(url + "/models", timeout=5).read()
                break
            except OSError:
                time.sleep(2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_greedy_through_the_server_equals_transformers(server, hf_reference):
    backend = OpenAIBackend.connect(OpenAIConfig(base_url=server, max_concurrency=4))
    assert backend.model == "builtin"  # the first (only) model the server lists
    reqs = [Request(p, GREEDY40, 0) for p in PROMPTS]
    a, b = hf_reference.generate(reqs), backend.generate(reqs)
    assert [c.text for c in b] == [c.text for c in a]
    assert [c.n_tokens for c in b] == [c.n_tokens for c in a]  # from the server's usage
    assert [c.finish_reason for c in b] == [c.finish_reason for c in a]
    assert [c.mean_logprob for c in b] == pytest.approx([c.mean_logprob for c in a], abs=1e-3)  # its logprobs
    assert {c.finish_reason for c in a} == {"stop", "length"}
    assert 1 < backend.peak_in_flight <= 4


def test_per_request_seeds_and_the_same_rows_as_transformers(server, hf_reference):
    backend = OpenAIBackend.connect(OpenAIConfig(base_url=server, max_concurrency=8))
    hot = Sampler("hot", temperature=1.0, max_new_tokens=20)
    reqs = [Request(p, hot, 50 + i) for i, p in enumerate(PROMPTS[:12])]
    first = [c.text for c in backend.generate(reqs)]
    assert [backend.generate([r])[0].text for r in reqs[:2]] == first[:2]  # alone or among others
    texts = [c.text for c in backend.generate([Request(p, hot, s) for p in PROMPTS[:4] for s in range(6)])]
    assert any(len(set(texts[i : i + 6])) > 1 for i in range(0, 24, 6))  # other seeds, other samples
    problems = get_domain("addition").make_problems(4, 9, [2])
    portfolio = [PortfolioEntry(Sampler("a", temperature=0.7, top_k=8, max_new_tokens=16), 1.0),
                 PortfolioEntry(Sampler("b", temperature=1.0, min_p=0.05, repetition_penalty=1.1, max_new_tokens=16), 1.0)]
    kw = {"round": 1, "seed": 0, "model_id": "m", "config_hash": "h"}
    rows_o = generate_rows(backend, problems, portfolio, 2, **kw)
    rows_h = generate_rows(hf_reference, problems, portfolio, 2, **kw)
    for a, b in zip(rows_h, rows_o, strict=True):
        assert {k: type(v) for k, v in a.items()} == {k: type(v) for k, v in b.items()}
        assert (a["row_id"], a["sampler"], a["seed"]) == (b["row_id"], b["sampler"], b["seed"])
        assert 1 <= b["n_tokens"] <= 16 and b["mean_logprob"] <= 0


class FlakyProxy(http.server.ThreadingHTTPServer):
    """Answers the first `fail` POSTs with 429 / 503, then passes requests on to `upstream`."""

    def __init__(self, upstream: str, fail: int):
        self.upstream, self.fail, self.seen_keys, self.lock = upstream, fail, set(), threading.Lock()
        super().__init__(("127.0.0.1", 0), _ProxyHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _forward(self, body=None):
        srv = self.server
        srv.seen_keys.add(self.headers.get("Authorization"))
        with srv.lock:
            fail, srv.fail = srv.fail, srv.fail - (body is not None and srv.fail > 0)
        if body is not None and fail > 0:
            self.send_response(429 if fail % 2 else 503)
            self.send_header("Content-Length", "0")
            if fail % 2:
                self.send_header("Retry-After", "0")
            self.end_headers()
            return
        req = urllib.request.Request(srv.upstream.removesuffix("/v1") + self.path, data=body,
                                     headers={"Content-Type": "application/json"})
        data = urllib.request.urlopen(req, timeout=120).read()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._forward()

    def do_POST(self):
        self._forward(self.rfile.read(int(self.headers["Content-Length"])))


def test_429_and_5xx_are_retried_and_the_key_comes_from_the_environment(server, monkeypatch):
    monkeypatch.setenv("SL_TEST_KEY", "sk-local")
    proxy = FlakyProxy(server, fail=4)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        cfg = OpenAIConfig(base_url=proxy.url, api_key_env="SL_TEST_KEY", max_concurrency=2, backoff_s=0.05)
        via_proxy = OpenAIBackend.connect(cfg)
        reqs = [Request(p, GREEDY40, 0) for p in PROMPTS[:6]]
        got = via_proxy.generate(reqs)
        direct = OpenAIBackend.connect(OpenAIConfig(base_url=server)).generate(reqs)
    finally:
        proxy.shutdown()
    assert via_proxy.retries == 4 and proxy.fail == 0
    assert [c.text for c in got] == [c.text for c in direct]
    assert proxy.seen_keys == {"Bearer sk-local"}


def test_a_server_that_does_not_answer_is_one_line(tmp_path):
    cfg = OpenAIConfig(base_url=f"http://127.0.0.1:{free_port()}/v1", max_retries=2, backoff_s=0.01)
    with pytest.raises(ServerError) as e:
        OpenAIBackend.connect(cfg)
    assert isinstance(e.value, UserError) and "\n" not in str(e.value)
    assert "no answer from" in str(e.value) and "after 3 tries" in str(e.value)
    with pytest.raises(ServerError, match="not an http"):
        OpenAIBackend(OpenAIConfig(base_url="localhost:8000"), "m")

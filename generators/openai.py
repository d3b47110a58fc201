"""OpenAI-compatible server backend: generation against `vllm serve`, SGLang, TGI or any server
that speaks the `/v1/completions` API.

Prompts arrive already formatted (generators/prompts.py), so this backend sends text completions,
never chat messages. Each request carries its own seed and sampler settings (top_k, min_p and
repetition_penalty only when set: they are extensions that vLLM and SGLang accept and OpenAI's own
API does not). Token counts come from the server's `usage`, log-probs from `logprobs` when it
gives them (NaN when it does not). Requests go out on at most `max_concurrency` connections; a
429 or 5xx answer, or a dropped connection, is retried with exponential back-off (a server's
`Retry-After` wins). Standard library only: this runs wherever generators/ runs.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

from synthloop.errors import UserError

from .base import Completion, Request

# Worth another try: 429 Too Many Requests and the 5xx answers of an overloaded or restarting
# server (internal error, bad gateway, unavailable, gateway timeout).
RETRY_STATUS = {429, 500, 502, 503, 504}


@dataclass
class OpenAIConfig:
    """`generation.openai` in the loop's config."""

    base_url: str = "http://127.0.0.1:8000/v1"
    model: str | None = None  # None: the first model the server lists
    api_key_env: str = "OPENAI_API_KEY"  # the key is read from this variable; unset: no key sent
    # Requests in flight at once: enough to keep a server's continuous batching busy without
    # flooding its queue. A choice, not tuned.
    max_concurrency: int = 16
    # Per request, after the first try; with backoff_s 0.5 the waits add up to ~15 s (0.5 + 1 + 2 +
    # 4 + 8), long enough for a brief outage. A choice.
    max_retries: int = 5
    backoff_s: float = 0.5  # first wait; doubles each retry (with jitter)
    # One request, connect to last byte: a long completion from a slow server can take minutes.
    timeout_s: float = 300

    def __post_init__(self):
        if self.max_concurrency < 1 or self.max_retries < 0 or self.backoff_s < 0 or self.timeout_s <= 0:
            raise ValueError("openai: max_concurrency >= 1, max_retries >= 0, backoff_s >= 0, timeout_s > 0")


class ServerError(UserError):
    """The server did not answer, or refused what we asked; one line says which and what to do."""


class _Retry(Exception):
    def __init__(self, why: str, wait: float | None = None):
        super().__init__(why)
        self.wait = wait


class OpenAIBackend:
    name = "openai"

    def __init__(self, cfg: OpenAIConfig, model: str):
        self.cfg, self.model = cfg, model
        url = urlsplit(cfg.base_url.rstrip("/"))
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ServerError(f"generation.openai.base_url: {cfg.base_url!r} is not an http(s) URL")
        self._url, self._path = url, url.path
        key = os.environ.get(cfg.api_key_env, "")
        self._headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {key}"} if key else {})
        self._local = threading.local()  # one kept-alive connection per worker thread
        self._lock = threading.Lock()
        self.in_flight = self.peak_in_flight = 0
        self.retries = 0  # requests sent again after a 429/5xx or a dropped connection

    @classmethod
    def connect(cls, cfg: OpenAIConfig) -> OpenAIBackend:
        """A backend whose server answered `GET /models` (so a wrong URL fails now, in one line)."""
        backend = cls(cfg, cfg.model or "")
        models = [m["id"] for m in backend._request("GET", "/models")["data"]]
        if not cfg.model:
            if not models:
                raise ServerError(f"the server at {cfg.base_url} lists no model; set generation.openai.model")
            backend.model = models[0]
        return backend

    def generate(
        self, requests: Sequence[Request], progress: Callable[[int], None] | None = None
    ) -> list[Completion]:
        """One completion per request, in request order."""
        if not requests:
            return []
        with ThreadPoolExecutor(max_workers=max(1, self.cfg.max_concurrency)) as pool:
            futures = [pool.submit(self._complete, r) for r in requests]
            out = []
            for f in futures:
                out.append(f.result())
                if progress:
                    progress(1)
        return out

    def close(self) -> None:
        """Nothing to free on our side: the server keeps its model."""

    # -- one request -------------------------------------------------------------------------
    def body(self, req: Request) -> dict:
        """The `/completions` request for one of our requests."""
        s = req.sampler
        body = {
            "model": self.model, "prompt": req.prompt, "n": 1, "max_tokens": s.max_new_tokens,
            # The seed cut to 63 bits: vLLM keeps it as a signed int64.
            "temperature": s.temperature, "top_p": s.top_p, "seed": req.seed & ((1 << 63) - 1),
            "logprobs": 0,  # the sampled token's own log-prob
        }
        extensions = {"top_k": (s.top_k, 0), "min_p": (s.min_p, 0.0), "repetition_penalty": (s.repetition_penalty, 1.0)}
        body |= {k: v for k, (v, off) in extensions.items() if v != off}
        return body

    def _complete(self, req: Request) -> Completion:
        with self._lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            answer = self._request("POST", "/completions", self.body(req))
        finally:
            with self._lock:
                self.in_flight -= 1
        choice = answer["choices"][0]
        n = int(answer["usage"]["completion_tokens"])
        lps = (choice.get("logprobs") or {}).get("token_logprobs")
        mean_lp = sum(lps) / len(lps) if lps else math.nan
        finish = "stop" if choice.get("finish_reason") == "stop" else "length"
        return Completion(choice["text"], n, mean_lp, finish)

    def _request(self, method: str, path: str, body: dict | None = None) -> dict:
        cfg = self.cfg
        for attempt in range(cfg.max_retries + 1):
            try:
                return self._once(method, path, body)
            except _Retry as e:
                if attempt == cfg.max_retries:
                    raise ServerError(f"backend openai: no answer from {cfg.base_url} after {attempt + 1} tries "
                                      f"(last: {e}); is the server up? (generation.openai.base_url)") from None
                with self._lock:
                    self.retries += 1
                # Jitter of +-50% so that clients that failed together do not retry together.
                wait = e.wait if e.wait is not None else cfg.backoff_s * 2**attempt * random.uniform(0.5, 1.5)
                time.sleep(wait)
        raise AssertionError("unreachable")

    def _once(self, method: str, path: str, body: dict | None) -> dict:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            kind = http.client.HTTPSConnection if self._url.scheme == "https" else http.client.HTTPConnection
            conn = self._local.conn = kind(self._url.hostname, self._url.port, timeout=self.cfg.timeout_s)
        try:
            conn.request(method, self._path + path, json.dumps(body) if body else None, self._headers)
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as e:  # refused, reset, timed out, dropped
            conn.close()
            self._local.conn = None
            raise _Retry(f"{type(e).__name__}: {e}") from None
        if resp.status in RETRY_STATUS:
            after = resp.getheader("Retry-After")
            raise _Retry(f"HTTP {resp.status}", float(after) if after and after.isdigit() else None)
        if resp.status != 200:
            hint = f" (is ${self.cfg.api_key_env} right?)" if resp.status in (401, 403) else ""
            raise ServerError(f"backend openai: {self.cfg.base_url} refused the request, HTTP {resp.status}: "
                              f"{_message(data)}{hint}")
        return json.loads(data)


def _message(data: bytes) -> str:
    """The server's own error message, on one line."""
    try:
        err = json.loads(data)
        err = err.get("error", err) if isinstance(err, dict) else err
        text = err.get("message", err) if isinstance(err, dict) else err
    except ValueError:
        text = data.decode(errors="replace")
    return " ".join(str(text).split())[:300]  # one error line, not a whole HTML page

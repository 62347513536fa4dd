"""A teacher behind an OpenAI-compatible chat completions endpoint (a vLLM server, say).

This is how labeling scales past one GPU: start ``vllm serve <model>`` on as
many GPUs as you have and point ``teacher.url`` at it. Requests run in a pool
of ``teacher.concurrency`` threads, so that many are always in flight. A
request that fails with a 5xx, 429 or 408, times out, loses its connection or
gets an answer that is not the expected JSON is retried ``teacher.retries``
times with exponential backoff and jitter (``Retry-After`` honoured); when
retries run out, that image gets an error record. A server that refuses every
connection, or a 401, 403 or 404, means the endpoint cannot work at all: the
run stops with a message saying what to fix (the records so far are kept);
other 4xx fail only the image (a too-large image, say).

Only the standard library is used (``urllib``).
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import math
import os
import random
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from clhoi.teacher.client import TeacherFatalError, TeacherImage, render_parse_prompt
from clhoi.teacher.config import TeacherConfig

_MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}
_RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_FATAL_HINT = {
    401: "the endpoint rejected the API key; set the environment variable named by teacher.api_key_env",
    403: "the endpoint refused access; check the API key (teacher.api_key_env) and its permissions",
    404: "no chat completions route or no such model; teacher.url must be the API base "
    "(e.g. http://host:8000/v1) and teacher.model a model the server serves",
}


class RetryableError(RuntimeError):
    """A failure worth retrying (5xx, 429, timeout, dropped connection, malformed answer).

    Attributes:
        retry_after: seconds the server asked to wait (``Retry-After``), if it did.
        server_down: no connection at all; when retries run out, the run stops
            (rather than filling the store with error records).
    """

    def __init__(self, message: str, retry_after: float | None = None, server_down: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.server_down = server_down


class RequestRejected(RuntimeError):
    """The endpoint rejected this one request (a 4xx other than 401/403/404); not retried."""


def image_data_url(path: Path, max_side: int = 0) -> str:
    """The image as a ``data:`` URL; the file's own bytes when it is JPEG/PNG/WEBP/GIF and small enough."""
    from PIL import Image

    data = path.read_bytes()
    with Image.open(io.BytesIO(data)) as im:
        fmt = im.format or ""
        if fmt in _MIME and (not max_side or max(im.size) <= max_side):
            return f"data:{_MIME[fmt]};base64,{base64.b64encode(data).decode('ascii')}"
        im = im.convert("RGB")
        if max_side and max(im.size) > max_side:
            im.thumbnail((max_side, max_side))
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=92)
    return f"data:image/jpeg;base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"


MAX_RESPONSE_BYTES = 16 << 20
"""The most bytes read from one endpoint answer (a caption is a few hundred)."""


def answer_text(body: bytes) -> str:
    """The text of a chat completions response; :class:`RetryableError` when it is not one."""
    try:
        data = json.loads(body)
        content = data["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError, RecursionError) as e:
        raise RetryableError(f"malformed answer from the endpoint ({type(e).__name__}: {body[:120]!r})") from None
    if isinstance(content, list):  # content parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    if not isinstance(content, str):
        raise RetryableError(f"malformed answer from the endpoint (content is {type(content).__name__})")
    return content.strip()


def _retry_after(e: urllib.error.HTTPError) -> float | None:
    value = e.headers.get("Retry-After") if e.headers else None
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


class OpenAIClient:
    """Caption and parse through ``POST {url}/chat/completions``.

    Args:
        url: the API base, e.g. ``http://localhost:8000/v1``.
        model: the model name the server serves.
        concurrency: requests in flight at most.
        timeout_s: seconds per request.
        retries: retries per request.
        backoff_s: first retry delay (doubled each time, times a jitter in [0.5, 1.5)).
        max_tokens: answer length limit.
        temperature: sampling temperature (0 = greedy).
        top_p: nucleus mass.
        api_key: sent as a bearer token when given.
        image_max_side: downscale larger images before sending (0 = never).
        batch_size: the run's batch size (sets how many batches it keeps in flight).
    """

    needs_pixels = False

    def __init__(
        self,
        url: str,
        model: str,
        concurrency: int = 16,
        timeout_s: float = 120.0,
        retries: int = 4,
        backoff_s: float = 1.0,
        max_tokens: int = 64,
        temperature: float = 0.0,
        top_p: float = 1.0,
        api_key: str | None = None,
        image_max_side: int = 0,
        batch_size: int = 8,
    ) -> None:
        self.url = url.rstrip("/") + "/chat/completions"
        self.name = model
        self.model, self.timeout_s, self.retries, self.backoff_s = model, timeout_s, retries, backoff_s
        self.sampling = {"max_tokens": max_tokens, "temperature": temperature, "top_p": top_p}
        self.api_key, self.image_max_side = api_key, image_max_side
        self.concurrency = concurrency
        self.max_workers = 2 * math.ceil(concurrency / batch_size) + 1  # batches in flight: keep the pool fed
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="clhoi-http")
        self._rng = random.Random(0)
        self._rng_lock = threading.Lock()

    @classmethod
    def from_config(cls, cfg: TeacherConfig) -> "OpenAIClient":
        return cls(
            url=cfg.url,
            model=cfg.model,
            concurrency=cfg.concurrency,
            timeout_s=cfg.timeout_s,
            retries=cfg.retries,
            backoff_s=cfg.backoff_s,
            max_tokens=cfg.max_new_tokens,
            temperature=cfg.temperature if cfg.do_sample else 0.0,
            top_p=cfg.top_p if cfg.do_sample else 1.0,
            api_key=os.environ.get(cfg.api_key_env) or None,
            image_max_side=cfg.image_max_side,
            batch_size=cfg.batch_size,
        )

    # ------------------------------------------------------------------------- requests
    def _post(self, payload: dict[str, Any]) -> str:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url, json.dumps(payload).encode(), headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                body = response.read(MAX_RESPONSE_BYTES + 1)  # never more: a broken server cannot fill memory
            if len(body) > MAX_RESPONSE_BYTES:
                raise RequestRejected(f"the endpoint's answer is larger than {MAX_RESPONSE_BYTES >> 20} MiB; "
                                      "check teacher.url and teacher.max_new_tokens")
            return answer_text(body)
        except urllib.error.HTTPError as e:
            detail = e.read(300).decode("utf-8", "replace")
            if e.code in _FATAL_HINT:
                raise TeacherFatalError(f"{self.url} answered {e.code} ({detail}): {_FATAL_HINT[e.code]}") from None
            if e.code in _RETRY_STATUS or e.code >= 500:
                raise RetryableError(f"HTTP {e.code}: {detail}", _retry_after(e)) from None
            raise RequestRejected(f"endpoint rejected the request: HTTP {e.code}: {detail}") from None
        except (TimeoutError, socket.timeout) as e:
            raise RetryableError(f"no answer within {self.timeout_s} s ({e})") from None
        except urllib.error.URLError as e:
            if isinstance(e.reason, ConnectionRefusedError):
                message = f"cannot connect to {self.url} (is the server running?)"
                raise RetryableError(message, server_down=True) from None
            raise RetryableError(f"connection error: {e.reason}") from None
        except (ConnectionError, http.client.HTTPException, OSError) as e:
            raise RetryableError(f"connection error: {type(e).__name__}: {e}") from None

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        with self._rng_lock:
            jitter = 0.5 + self._rng.random()
        delay = self.backoff_s * (2**attempt) * jitter
        return max(delay, min(retry_after, 60.0)) if retry_after else delay

    def complete(self, content: list[dict[str, Any]]) -> str:
        """One chat completion with retries; raises on final failure."""
        payload = {"model": self.model, "messages": [{"role": "user", "content": content}], **self.sampling}
        for attempt in range(self.retries + 1):
            try:
                return self._post(payload)
            except RetryableError as e:
                if attempt == self.retries:
                    if e.server_down:
                        raise TeacherFatalError(f"{e}; tried {self.retries + 1} times") from None
                    raise RetryableError(f"request failed after {self.retries + 1} attempts: {e}") from None
                time.sleep(self._delay(attempt, e.retry_after))
        raise AssertionError("unreachable")

    def _many(self, make: Callable[[Any], list[dict[str, Any]]], items: Sequence[Any]) -> list[str | Exception]:
        """One request per item, in the pool (the content is built there too); failures come back as exceptions."""

        def one(item: Any) -> str | Exception:
            try:
                content = make(item)
            except Exception as e:  # noqa: BLE001 - the item's own failure (an unreadable image), recorded
                return RuntimeError(f"unreadable image: {type(e).__name__}: {e}")
            try:
                return self.complete(content)
            except TeacherFatalError:
                raise
            except Exception as e:  # noqa: BLE001 - this image's request failed; recorded
                return e

        return list(self._pool.map(one, items))

    # ------------------------------------------------------------------------- VlmClient
    def caption(self, images: Sequence[TeacherImage], prompt: str) -> list[str | Exception]:
        def content(item: TeacherImage) -> list[dict[str, Any]]:
            url = image_data_url(item.path, self.image_max_side)
            return [{"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": prompt}]

        return self._many(content, images)

    def parse(self, captions: Sequence[str], prompt: str) -> list[str | Exception]:
        return self._many(lambda c: [{"type": "text", "text": render_parse_prompt(prompt, c)}], captions)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

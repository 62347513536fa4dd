"""Teacher labeling speed: the pipeline's own cost per image, and HTTP requests kept in flight.

1. ``pipeline``: ``clhoi.teacher.run.label`` over N JPEG files (640x480) with a
   teacher that answers instantly from precomputed texts (captions in the
   styles real teachers write, answers in several list styles). What is
   measured is everything except the model: listing, opening each image,
   parsing, normalising, negatives, provenance, the append-only store (with
   its fsyncs) and the summary. Target: >= 500 images/s on 2 cores.
   ``--pixels`` also decodes every image (as the HF backends need), at
   ``image_max_side=224`` (JPEG draft decoding).
2. ``http``: the OpenAI-compatible backend against a local stub server (its
   own process) that answers after 200 ms; reports the time-averaged and peak
   number of requests in flight, as the client sees them (inside a request)
   and as the server does, against ``teacher.concurrency``.

Run: ``python benchmarks/bench_label.py [--images 3000] [--http-images 160] [--concurrency 16]``
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from PIL import Image

from clhoi.teacher.client import StubClient, stub_caption
from clhoi.teacher.config import TeacherConfig
from clhoi.teacher.run import label

ANSWER_STYLES = (
    lambda v, o: f"*{v.capitalize()}, {o.title()}.",
    lambda v, o: f"1. <person, {v}, {o}>\n2. <person, look at, {o}>",
    lambda v, o: json.dumps([{"interaction": v, "object": o}]),
    lambda v, o: f"- {v}: {o}",
    lambda v, o: f"The person is {v}ing the {o}.",
)


def make_images(root: Path, n: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    base = Image.new("RGB", (640, 480))
    for i in range(n):
        base.putpixel((rng.randrange(640), rng.randrange(480)), (rng.randrange(256), 0, 0))
        base.save(root / f"{i:06d}.jpg", quality=85)


class ReplayClient(StubClient):
    """Answers from precomputed texts: the teacher costs nothing, the pipeline is what is timed."""

    def __init__(self, keys: list[str], needs_pixels: bool) -> None:
        captions = {k: stub_caption(k) for k in keys}
        super().__init__(captions=captions, needs_pixels=needs_pixels)
        rng = random.Random(0)
        words = [("ride", "horse"), ("hold", "cup"), ("swing", "baseball bat"), ("kick", "sports ball")]
        self.answers = {c: rng.choice(ANSWER_STYLES)(*rng.choice(words)) for c in captions.values()}

    def parse(self, captions, prompt):  # noqa: ANN001 - StubClient's signature
        return [self.answers.get(c, "") for c in captions]


def bench_pipeline(n: int, pixels: bool, batch_size: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "images"
        make_images(root, n)
        keys = sorted(p.name for p in root.iterdir())
        client = ReplayClient(keys, needs_pixels=pixels)
        cfg = TeacherConfig(backend="stub", batch_size=batch_size, image_max_side=224 if pixels else 0)
        label(cfg, root, Path(tmp) / "warm.jsonl", limit=20, progress=False, clients=(client, client))  # warm-up
        out = Path(tmp) / "labels.jsonl"
        t0 = time.perf_counter()
        summary = label(cfg, root, out, progress=False, clients=(client, client))
        dt = time.perf_counter() - t0
    return {"images": n, "pixels": pixels, "seconds": round(dt, 3), "images_per_s": round(n / dt, 1),
            "by_status": summary.by_status}


class _Counter:
    """Time-weighted and peak count of requests in flight."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = self.peak = self.requests = 0
        self.area = 0.0
        self.last = self.start = time.perf_counter()

    def change(self, delta: int) -> None:
        with self.lock:
            t = time.perf_counter()
            self.area += self.now * (t - self.last)
            self.last, self.now = t, self.now + delta
            self.peak = max(self.peak, self.now)
            self.requests += delta > 0

    def stats(self) -> dict:
        self.change(0)
        return {"mean": round(self.area / max(self.last - self.start, 1e-9), 2), "peak": self.peak,
                "requests": self.requests}


def serve(delay_s: float) -> None:
    """The stub endpoint (run in its own process, so it does not share the client's GIL)."""
    counter = _Counter()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name; GET /stats
            self._reply(counter.stats())

        def do_POST(self) -> None:  # noqa: N802
            if counter.requests == 0:
                counter.start = counter.last = time.perf_counter()
            counter.change(+1)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            text = body["messages"][0]["content"][-1]["text"]
            time.sleep(delay_s)
            answer = "A man is riding a horse." if "persons" in text else "*Ride, Horse."
            counter.change(-1)
            self._reply({"choices": [{"message": {"content": answer}}]})

        def _reply(self, obj: dict) -> None:
            data = json.dumps(obj).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 256  # the listen backlog: many connections at once

    server = Server(("127.0.0.1", 0), Handler)
    print(server.server_port, flush=True)
    server.serve_forever()


def bench_http(n: int, concurrency: int, batch_size: int, delay_s: float = 0.2) -> dict:
    import subprocess
    import sys
    import urllib.request

    from clhoi.teacher.endpoint import OpenAIClient

    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(delay_s)], stdout=subprocess.PIPE, text=True)
    client_side = _Counter()
    post = OpenAIClient._post

    def counted(self: OpenAIClient, payload: dict) -> str:
        client_side.change(+1)
        try:
            return post(self, payload)
        finally:
            client_side.change(-1)

    try:
        port = int(proc.stdout.readline())
        OpenAIClient._post = counted  # type: ignore[method-assign]
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "images"
            make_images(root, n)
            cfg = TeacherConfig(
                backend="openai", model="stub", url=f"http://127.0.0.1:{port}/v1",
                concurrency=concurrency, batch_size=batch_size, timeout_s=30,
            )
            client_side.start = client_side.last = time.perf_counter()
            t0 = time.perf_counter()
            summary = label(cfg, root, Path(tmp) / "labels.jsonl", progress=False)
            dt = time.perf_counter() - t0
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats") as r:
            server_side = json.loads(r.read())
    finally:
        OpenAIClient._post = post  # type: ignore[method-assign]
        proc.terminate()
        proc.wait()
    ideal = concurrency / delay_s / 2  # two requests per image
    return {
        "images": n, "concurrency": concurrency, "batch_size": batch_size, "seconds": round(dt, 2),
        "images_per_s": round(n / dt, 1), "ideal_images_per_s": round(ideal, 1),
        "client_in_flight": client_side.stats(), "server_in_flight": server_side, "by_status": summary.by_status,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=3000)
    ap.add_argument("--http-images", type=int, default=160)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--serve", type=float, help=argparse.SUPPRESS)  # internal: run the stub endpoint
    args = ap.parse_args()
    if args.serve is not None:
        return serve(args.serve)
    print(json.dumps({"pipeline": bench_pipeline(args.images, False, args.batch_size)}))
    print(json.dumps({"pipeline_with_decode": bench_pipeline(args.images // 3, True, args.batch_size)}))
    print(json.dumps({"http": bench_http(args.http_images, args.concurrency, args.batch_size)}))
    print(json.dumps({"http_1s": bench_http(args.http_images // 2, args.concurrency, args.batch_size, delay_s=1.0)}))


if __name__ == "__main__":
    main()

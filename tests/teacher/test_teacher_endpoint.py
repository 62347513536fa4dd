"""The OpenAI-compatible HTTP backend against a local server on 127.0.0.1: retries, timeouts, 4xx, concurrency."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from clhoi.teacher.client import TeacherFatalError, TeacherImage
from clhoi.teacher.config import TeacherConfig
from clhoi.teacher.endpoint import OpenAIClient, answer_text, image_data_url
from clhoi.teacher.run import label
from clhoi.teacher.store import read_labels


class FakeEndpoint:
    """A chat completions server whose answers a test scripts with ``plan(n, body) -> (status, text, delay)``."""

    def __init__(self, plan):
        self.plan, self.bodies, self.lock = plan, [], threading.Lock()
        self.in_flight = self.peak = 0
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with endpoint.lock:
                    endpoint.bodies.append((self.path, body, self.headers.get("Authorization")))
                    n = len(endpoint.bodies)
                    endpoint.in_flight += 1
                    endpoint.peak = max(endpoint.peak, endpoint.in_flight)
                try:
                    status, text, delay = endpoint.plan(n, body)
                    time.sleep(delay)
                finally:
                    with endpoint.lock:
                        endpoint.in_flight -= 1
                if status == 200 and not text.startswith("RAW:"):
                    text = json.dumps({"choices": [{"message": {"role": "assistant", "content": text}}]})
                data = text.removeprefix("RAW:").encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (timeout)

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 64

        self.server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint():
    servers = []

    def start(plan):
        servers.append(FakeEndpoint(plan))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def is_caption(body) -> bool:
    return any(part["type"] == "image_url" for part in body["messages"][0]["content"])


def teacher(body) -> str:
    return "A man is riding a horse." if is_caption(body) else "*Ride, Horse."


def client(url, **kw) -> OpenAIClient:
    kw = {"model": "tiny", "retries": 2, "backoff_s": 0.01, "timeout_s": 5.0, **kw}
    return OpenAIClient(url, **kw)


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "a.png"
    Image.new("RGB", (8, 6), (255, 0, 0)).save(path)
    return TeacherImage("a.png", path)


def test_caption_and_parse_requests(endpoint, image, monkeypatch):
    ep = endpoint(lambda n, body: (200, teacher(body), 0))
    c = client(ep.url, api_key="sekret", max_tokens=33)
    assert c.caption([image], "What are the persons doing in the image?") == ["A man is riding a horse."]
    assert c.parse(["A man is riding a horse."], "{caption}\nList.") == ["*Ride, Horse."]
    (path, cap, auth), (_, par, _) = ep.bodies
    assert path == "/v1/chat/completions" and auth == "Bearer sekret"
    assert cap["model"] == "tiny" and cap["max_tokens"] == 33 and cap["temperature"] == 0.0
    url = cap["messages"][0]["content"][0]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,") and url == image_data_url(image.path)
    assert par["messages"][0]["content"] == [{"type": "text", "text": "A man is riding a horse.\nList."}]


def test_large_images_are_downscaled_before_sending(tmp_path):
    import base64
    import io

    path = tmp_path / "big.bmp"
    Image.new("RGB", (300, 200), (0, 0, 255)).save(path)  # not a web format: re-encoded as JPEG
    url = image_data_url(path, max_side=64)
    assert url.startswith("data:image/jpeg;base64,")
    with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as im:
        assert max(im.size) == 64
    assert image_data_url(path).startswith("data:image/jpeg;base64,")


def test_server_errors_are_retried_then_recorded(endpoint, image):
    ep = endpoint(lambda n, body: (500, "overloaded", 0) if n <= 2 else (200, "ok", 0))
    assert client(ep.url).caption([image], "p") == ["ok"]
    assert len(ep.bodies) == 3
    ep = endpoint(lambda n, body: (503, "down", 0))
    (err,) = client(ep.url, retries=1).caption([image], "p")
    assert isinstance(err, Exception) and "after 2 attempts" in str(err) and "503" in str(err)


def test_slow_answers_time_out_and_are_retried(endpoint, image):
    ep = endpoint(lambda n, body: (200, "late", 1.0) if n == 1 else (200, "in time", 0))
    assert client(ep.url, timeout_s=0.3).caption([image], "p") == ["in time"]
    assert len(ep.bodies) == 2


def test_malformed_answers_are_retried(endpoint, image):
    answers = {1: "RAW:{not json", 2: 'RAW:{"choices": []}', 3: "fine"}
    ep = endpoint(lambda n, body: (200, answers.get(n, "fine"), 0))
    assert client(ep.url).caption([image], "p") == ["fine"]
    with pytest.raises(Exception, match="malformed"):
        answer_text(b'{"id": 1}')
    assert answer_text(b'{"choices": [{"message": {"content": [{"type": "text", "text": " hi "}]}}]}') == "hi"


def test_client_errors_fail_the_image_or_the_run(endpoint, image):
    ep = endpoint(lambda n, body: (400, '{"error": "image too large"}', 0))
    (err,) = client(ep.url).caption([image], "p")
    assert "400" in str(err) and "image too large" in str(err) and len(ep.bodies) == 1  # not retried
    ep = endpoint(lambda n, body: (404, "no such model", 0))
    with pytest.raises(TeacherFatalError, match="teacher.url"):
        client(ep.url).caption([image], "p")
    ep = endpoint(lambda n, body: (401, "bad key", 0))
    with pytest.raises(TeacherFatalError, match="api_key_env"):
        client(ep.url).parse(["x"], "{caption}")


def test_unreachable_server_stops_the_run(image):
    with pytest.raises(TeacherFatalError, match="is the server running"):
        client("http://127.0.0.1:9", retries=1).caption([image], "p")


def test_run_keeps_the_configured_requests_in_flight(endpoint, tmp_path):
    concurrency = 4
    reached = threading.Event()

    def plan(n, body):
        if ep.in_flight >= concurrency:
            reached.set()
        reached.wait(timeout=5)  # hold every request until `concurrency` are in flight together
        if is_caption(body) and body["messages"][0]["content"][0]["image_url"]["url"] == bad:
            return 500, "boom", 0
        return 200, teacher(body), 0

    ep = endpoint(plan)
    root = tmp_path / "images"
    root.mkdir()
    for i in range(12):
        Image.new("RGB", (8, 8), (i * 20, 0, 0)).save(root / f"{i:02d}.png")
    bad = image_data_url(root / "05.png")
    cfg = TeacherConfig(backend="openai", model="tiny", url=ep.url, concurrency=concurrency, batch_size=2,
                        retries=0, backoff_s=0.01, timeout_s=10)
    summary = label(cfg, root, tmp_path / "labels.jsonl", progress=False)
    assert reached.is_set() and ep.peak == concurrency  # as many as configured, never more
    records = read_labels(tmp_path / "labels.jsonl")
    assert len(records) == 12 and summary.by_status["error"] == 1 and summary.by_status["ok"] == 11
    assert all(r.verbs == ["ride"] for r in records if r.status == "ok")
    assert records[0].teacher == "tiny" and records[0].provenance["backend"] == "openai"

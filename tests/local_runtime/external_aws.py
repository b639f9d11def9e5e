"""Programs the local runtime did not start: an AWS endpoint of its own (a moto server process,
as a developer's LocalStack would be) and a plain HTTP server that counts what reaches it."""
from __future__ import annotations

import contextlib
import http.server
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

import boto3


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _wait_until_listening(process: subprocess.Popen, host: str, port: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto server on {host}:{port} exited with {process.returncode}")
        try:
            socket.create_connection((host, port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"moto server on {host}:{port} did not start in {timeout} s")


@dataclass
class ExternalAws:
    url: str

    def client(self, service: str):
        return boto3.session.Session().client(service, endpoint_url=self.url, region_name="us-east-1",
                                              aws_access_key_id="test", aws_secret_access_key="test")

    def queue_names(self) -> set[str]:
        urls = self.client("sqs").list_queues().get("QueueUrls", [])
        return {url.rsplit("/", 1)[-1] for url in urls}

    def secret_names(self) -> set[str]:
        return {s["Name"] for s in self.client("secretsmanager").list_secrets()["SecretList"]}

    def key_ids(self) -> set[str]:
        return {k["KeyId"] for k in self.client("kms").list_keys()["Keys"]}

    def alias_names(self) -> set[str]:
        # moto lists the AWS-managed aliases (alias/aws/...) of every account; those are not ours.
        aliases = self.client("kms").list_aliases()["Aliases"]
        return {a["AliasName"] for a in aliases if not a["AliasName"].startswith("alias/aws/")}

    def bucket_names(self) -> set[str]:
        return {b["Name"] for b in self.client("s3").list_buckets()["Buckets"]}


@contextlib.contextmanager
def external_moto(host: str = "127.0.0.2", url_host: str | None = None):
    """`python -m moto.server` on host:<free port>; `url_host` is the name clients use (e.g.
    localhost for 127.0.0.1)."""
    port = free_port(host)
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_until_listening(process, host, port)
        yield ExternalAws(f"http://{url_host or host}:{port}")
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class CountingServer:
    port: int
    requests: list[str] = field(default_factory=list)


@contextlib.contextmanager
def counting_http_server():
    """Answers every request with 503 and remembers it: a program holding a port, which is
    not AWS and must not be written to."""
    seen = CountingServer(port=0)

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            seen.requests.append(f"{self.command} {self.path}")
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _answer

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    seen.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()

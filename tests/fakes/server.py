"""The HTTP plumbing every local fake shares: a threaded server on 127.0.0.1 and a quiet
handler that reads the body and answers JSON. Each fake keeps its own protocol."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

Fake = TypeVar("Fake")


class FakeHandler(BaseHTTPRequestHandler):
    # Keep-alive, as the real clients expect from the services the fakes stand in for.
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass  # keep test output clean

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send_body(self, status: int, data: bytes, *, content_type: str = "application/json",
                  headers: dict[str, str] | None = None, declared_length: int | None = None) -> None:
        """`declared_length` announces another length than `data` has (a truncated download)."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data) if declared_length is None else declared_length))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def send_json(self, status: int, body: Any, *, content_type: str = "application/json",
                  headers: dict[str, str] | None = None) -> None:
        self.send_body(status, json.dumps(body).encode(), content_type=content_type, headers=headers)


class FakeServer:
    """`handler` served on `host`:`port` (a free port by default) from a daemon thread; a
    context manager, or start()/stop()."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], *, name: str, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.name = name
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeServer:
        # A short poll keeps shutdown() (and so each test's teardown) fast.
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_until_interrupted(self) -> None:
        """In the calling thread until Ctrl-C: for running a fake by hand."""
        try:
            self.httpd.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            pass
        finally:
            self.httpd.server_close()


def serve_fake(fake: Fake, handler_for: Callable[[Fake], type[BaseHTTPRequestHandler]], *,
               name: str) -> Iterator[Fake]:
    """A fixture's body: `fake` answered by `handler_for(fake)`, its `url` set, until teardown."""
    with FakeServer(handler_for(fake), name=name) as server:
        fake.url = server.url
        yield fake

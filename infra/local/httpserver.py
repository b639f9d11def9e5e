"""ThreadingHTTPServer that really stops: serve in a thread, and on stop() also close
keep-alive connections so their handler threads end (shutdown() alone leaves them
blocked on the next request line until the client hangs up)."""
from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class StoppableHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], name: str) -> None:
        super().__init__(address, handler)
        self.name = name
        self._thread: threading.Thread | None = None
        self._conns: dict[socket.socket, threading.Thread] = {}
        self._conns_lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, args=(0.1,), name=self.name, daemon=True)
        self._thread.start()

    def process_request_thread(self, request, client_address) -> None:  # noqa: ANN001 - socketserver API
        with self._conns_lock:
            self._conns[request] = threading.current_thread()
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._conns_lock:
                self._conns.pop(request, None)

    def stop(self, timeout: float = 5) -> None:
        if self._thread is not None:
            self.shutdown()
            self._thread.join(timeout)
            self._thread = None
        with self._conns_lock:
            conns = dict(self._conns)
        for sock in conns:
            try:
                sock.shutdown(socket.SHUT_RDWR)   # the handler's readline() sees EOF and returns
            except OSError:
                pass
        for thread in conns.values():
            thread.join(timeout)
        self.server_close()

"""ThreadingHTTPServer that really stops: serve in a thread, and on stop() also close
keep-alive connections so their handler threads end (shutdown() alone leaves them
blocked on the next request line until the client hangs up).

The one server of the local runtime (infra.local) and of the simulators (infra.simulators),
so it imports neither.

With `ssl_context`, one port speaks both plain HTTP and TLS: a connection whose first byte
is a TLS handshake record (0x16) is wrapped, any other is served as it is.

`wait_for_handlers=False`: stop() closes the connections without waiting for their handlers
(a simulator's handler may be stalling on purpose). `connections_accepted` counts the TCP
connections accepted since start (a client reusing its connection adds none)."""
from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TLS_HANDSHAKE = b"\x16"
SNIFF_TIMEOUT = 10   # seconds a client may take to send its first byte


class StoppableHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default listen backlog (5) resets connections in a burst of clients

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], name: str,
                 ssl_context: ssl.SSLContext | None = None, *, wait_for_handlers: bool = True) -> None:
        super().__init__(address, handler)
        self.name = name
        self.ssl_context = ssl_context
        self.block_on_close = wait_for_handlers   # socketserver's: server_close() joins the handlers
        self.connections_accepted = 0
        self._thread: threading.Thread | None = None
        self._conns: dict[socket.socket, threading.Thread] = {}
        self._conns_lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.socket.getsockname()[:2]
        return f"http://{host}:{port}"

    def start(self, poll_interval: float = 0.1) -> None:
        """Serve in a daemon thread; stop() waits up to `poll_interval` for the serving loop."""
        self._thread = threading.Thread(target=self.serve_forever, args=(poll_interval,), name=self.name,
                                        daemon=True)
        self._thread.start()

    def process_request(self, request, client_address) -> None:  # socketserver's signature
        self.connections_accepted += 1   # only the serving thread writes it
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address) -> None:  # socketserver's signature
        self._track(request)
        sock = request
        try:
            if self.ssl_context is not None:
                sock = self._maybe_tls(request, self.ssl_context)
                if sock is None:
                    return
            super().process_request_thread(sock, client_address)
        finally:
            self._untrack(request)
            if sock is not None:
                self._untrack(sock)

    def _maybe_tls(self, sock: socket.socket, context: ssl.SSLContext) -> socket.socket | None:
        """The socket itself (plain HTTP), its TLS wrapper, or None (the client went away)."""
        try:
            sock.settimeout(SNIFF_TIMEOUT)
            first = sock.recv(1, socket.MSG_PEEK)
            if first != TLS_HANDSHAKE:
                sock.settimeout(None)
                return sock
            wrapped = context.wrap_socket(sock, server_side=True)   # takes over the descriptor
            wrapped.settimeout(None)
        except (OSError, ValueError):
            sock.close()
            return None
        self._untrack(sock)
        self._track(wrapped)   # stop() must shut down the socket that owns the descriptor now
        return wrapped

    def _track(self, sock: socket.socket) -> None:
        with self._conns_lock:
            self._conns[sock] = threading.current_thread()

    def _untrack(self, sock: socket.socket) -> None:
        with self._conns_lock:
            self._conns.pop(sock, None)

    def stop(self, timeout: float = 5) -> None:
        if self._thread is not None:
            self.shutdown()
            self._thread.join(timeout)
            self._thread = None
        with self._conns_lock:
            conns = dict(self._conns)
        for sock in conns:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)   # the handler's readline() sees EOF and returns
        if self.block_on_close:
            for thread in conns.values():
                thread.join(timeout)
        self.server_close()

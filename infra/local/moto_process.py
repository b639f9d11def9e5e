"""The embedded AWS endpoint (moto) in a process of its own.

Run by aws.start_endpoint as `python -m infra.local.moto_process PORT`. A process of its own
because moto spends several milliseconds of CPU on every call: inside the runtime's process
it competed with the functions for one interpreter lock, and under load the queueing showed
up as seconds of alert and position latency that Lambda and real SQS do not have.

It listens on 127.0.0.1:PORT or, when another program holds that port, on a free one (what
runs there was not started by us and is never written to); it prints "ready <port>" once it
answers, and exits when its standard input closes, so it never outlives the runtime that
started it (even one that was killed).
"""
from __future__ import annotations

import errno
import functools
import logging
import os
import signal
import socket
import sys
import threading


def _cache_service_lookup() -> None:
    """moto's server finds the service of each request by walking its backend modules on
    disk (hundreds of stat calls per request); the answer depends only on the host and the
    request's signing scope, so remember it."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    lookup = DomainDispatcherApplication.get_backend_for_host
    DomainDispatcherApplication.get_backend_for_host = functools.lru_cache(maxsize=256)(lookup)


def _plain_retention_check() -> None:
    """moto's ReceiveMessage checks each message it hands out against its queue's retention
    period by building all of the queue's attributes, three times, and three of them count the
    queue's messages one by one: with a backlog of a thousand messages, one receive of ten walked
    the queue about ninety times, and the endpoint spent more CPU than the functions it served.
    The retention period is a plain attribute of the queue; the check is the same."""
    from moto.core.utils import unix_time
    from moto.sqs.models import SQSBackend

    def is_message_valid_based_on_retention_period(self, queue_name: str, message) -> bool:
        return self.get_queue(queue_name).message_retention_period + message.sent_timestamp / 1000 > unix_time()

    SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period


def listening_socket(port: int) -> socket.socket:
    """127.0.0.1:port, or a free port when another program holds that one. Bound here rather
    than probed, so nothing can take the port between the check and the server."""
    for candidate in (port, 0):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # As werkzeug does: a previous run's connections in TIME_WAIT are no conflict.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", candidate))
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE and candidate != 0:
                continue
            raise
        sock.listen(128)
        return sock
    raise AssertionError("unreachable")


def main(argv: list[str]) -> int:
    # Ctrl-C in a terminal reaches the whole process group; the parent stops this process by
    # closing its stdin, so the signal would only add a traceback to a clean stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per AWS call otherwise
    _cache_service_lookup()
    _plain_retention_check()
    sock = listening_socket(int(argv[0]))
    # What moto's ThreadedMotoServer builds, on the socket bound above.
    server = make_server("127.0.0.1", sock.getsockname()[1], DomainDispatcherApplication(create_backend_app),
                         threaded=True, request_handler=MotoRequestHandler, fd=sock.fileno())
    sock.close()  # the server holds its own copy
    threading.Thread(target=server.serve_forever, name="moto", daemon=True).start()
    print(f"ready {server.server_address[1]}", flush=True)
    # Nobody reads the pipe after this line: moto's own prints go nowhere instead of filling it.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.stdin.read()  # returns when the parent closes the pipe or dies
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The embedded AWS endpoint (moto) in a process of its own.

Run by aws.start_endpoint as `python -m infra.local.moto_process PORT`. A process of its own
because moto spends several milliseconds of CPU on every call: inside the runtime's process
it competed with the functions for one interpreter lock, and under load the queueing showed
up as seconds of alert and position latency that Lambda and real SQS do not have. It prints
"ready" once it answers, and exits when its standard input closes, so it never outlives the
runtime that started it (even one that was killed).
"""
from __future__ import annotations

import functools
import logging
import os
import sys


def _cache_service_lookup() -> None:
    """moto's server finds the service of each request by walking its backend modules on
    disk (hundreds of stat calls per request); the answer depends only on the host and the
    request's signing scope, so remember it."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    lookup = DomainDispatcherApplication.get_backend_for_host
    DomainDispatcherApplication.get_backend_for_host = functools.lru_cache(maxsize=256)(lookup)


def main(argv: list[str]) -> int:
    from moto.server import ThreadedMotoServer

    port = int(argv[0])
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per AWS call otherwise
    _cache_service_lookup()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    print("ready", flush=True)
    # Nobody reads the pipe after this line: moto's own prints go nowhere instead of filling it.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.stdin.read()  # returns when the parent closes the pipe or dies
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

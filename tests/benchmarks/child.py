"""One cold start, timed from inside: run by tests/benchmarks/coldstart.py as `python -c <this
file's text>` in a fresh interpreter, the way Lambda's Python runtime starts a container: the
function's folder is the working directory and first on sys.path (the task root), the layer's
python/ folder is on PYTHONPATH (/opt/python), and nothing of the repository is imported but
the function and its layer.

The job is JSON in BENCH_JOB:
- {"handler": "app.app", "event": {...}, "expect": "http:200" | "sqs" | "any", "context": {...}}:
  import the handler's module (the import part), then hand it the event once as Lambda would,
  `handler(event, context)`, and check the result (the first event);
- {"minimal": "mysql://user:password@host:port/database"}: the minimal handler doing the same
  outside work as an HTTP read: import boto3 and PyMySQL (the import part), then connect to
  the database and run one SELECT (the first event); with "also": ["module", ...], the import
  part imports those modules as well (the floor: the minimal handler plus a library every
  function's first database read needs).

It prints one line `BENCH-RESULT {...}` with perf_counter readings (CLOCK_MONOTONIC on Linux,
so comparable with the parent's reading just before the spawn), then leaves without the
interpreter's teardown. On a failed event it prints what came back and exits 3. With
-X importtime a line `bench-phase: first event` on stderr separates the imports of the import
part from those the first event pays for.
"""
import time

STARTED = time.perf_counter()  # as close to the interpreter's start as Python code can be

import importlib  # noqa: E402 - after the first reading on purpose
import json  # noqa: E402 - after the first reading on purpose
import os  # noqa: E402 - after the first reading on purpose
import sys  # noqa: E402 - after the first reading on purpose


class LambdaContext:
    """The attributes of the Python runtime's context object."""

    def __init__(self, spec: dict) -> None:
        self.function_name = spec["function_name"]
        self.function_version = "$LATEST"
        self.invoked_function_arn = spec["arn"]
        self.memory_limit_in_mb = str(spec["memory"])
        self.aws_request_id = spec["request_id"]
        self.log_group_name = f"/aws/lambda/{spec['function_name']}"
        self.log_stream_name = f"bench/[$LATEST]{spec['request_id']}"
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + spec["timeout"]

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def check(expect: str, result: object) -> str | None:
    """Why the result is not a successful handling of the event, or None."""
    if expect.startswith("http:"):
        if not isinstance(result, dict) or str(result.get("statusCode")) != expect[5:]:
            return f"expected status {expect[5:]}, got {json.dumps(result, default=str)[:2000]}"
    elif expect == "sqs" and (not isinstance(result, dict) or result.get("batchItemFailures")):
        return f"expected no batchItemFailures, got {json.dumps(result, default=str)[:2000]}"
    return None


def minimal(url: str, also: list[str]) -> dict:
    from urllib.parse import unquote, urlsplit

    imported = time.perf_counter()
    import boto3  # noqa: F401 - imported as a function's module would
    import pymysql

    for name in also:
        importlib.import_module(name)

    loaded = time.perf_counter()
    sys.stderr.write("bench-phase: first event\n")
    sys.stderr.flush()
    parts = urlsplit(url)
    conn = pymysql.connect(host=parts.hostname, port=parts.port or 3306, user=unquote(parts.username or ""),
                           password=unquote(parts.password or ""), database=parts.path.lstrip("/"),
                           charset="utf8mb4", connect_timeout=3)
    with conn.cursor() as cur:
        cur.execute("SELECT id, status FROM users ORDER BY id LIMIT 1")
        cur.fetchall()
    done = time.perf_counter()
    conn.close()
    return {"import_started": imported, "imported": loaded, "handled": done}


def main() -> int:
    job = json.loads(os.environ.pop("BENCH_JOB"))
    if "minimal" in job:
        readings = minimal(job["minimal"], job.get("also", []))
    else:
        module_name, _, attr = job["handler"].rpartition(".")
        imported = time.perf_counter()
        handler = getattr(importlib.import_module(module_name), attr)
        loaded = time.perf_counter()
        sys.stderr.write("bench-phase: first event\n")
        sys.stderr.flush()
        result = handler(job["event"], LambdaContext(job["context"]))
        result = json.loads(json.dumps(result))  # the runtime hands the caller JSON
        done = time.perf_counter()
        problem = check(job["expect"], result)
        if problem:
            print(f"BENCH-FAILED {job['context']['function_name']}: {problem}", flush=True)
            return 3
        readings = {"import_started": imported, "imported": loaded, "handled": done}
    print("BENCH-RESULT " + json.dumps({"started": STARTED, **readings}), flush=True)
    sys.stderr.flush()
    # A Lambda container is frozen, not finalised: skip the interpreter's teardown (about a
    # second here for a function, with nothing left to run but the garbage collector).
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())

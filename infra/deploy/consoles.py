"""Upload the browser consoles (consoles/) to a deployed stack's bucket, behind its CloudFront.

    python -m infra.deploy.consoles --stack hospital-prod [--region ap-east-1] [--dry-run]

The stack's outputs name the bucket (ConsoleBucketName), the distribution (ConsoleDistributionId)
and the live WebSocket API (LiveApiUrl). Every file goes under console/, the prefix CloudFront's
/console/* behaviour reads, with its Content-Type; console/config.json is written with the live
API's URL; files no longer in consoles/ are removed; then /console/* is invalidated.

No build step: the files are uploaded as they are in the repository.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from infra import consoles

PREFIX = "console/"
CONFIG_KEY = PREFIX + "config.json"
# Pages and config.json are revalidated on every load, so a deployment shows at the next one.
# Scripts and styles keep their names from one deployment to the next (no build step puts a
# hash in them), so they are cached briefly: a page never runs with modules much older than it.
CACHE_REVALIDATE = "no-cache"
CACHE_ASSETS = "public, max-age=300"


class DeployError(Exception):
    pass


@dataclass(frozen=True)
class Upload:
    key: str
    body: bytes
    content_type: str
    cache_control: str


def cache_control(key: str) -> str:
    return CACHE_REVALIDATE if key.endswith(".html") or key == CONFIG_KEY else CACHE_ASSETS


def console_files(folder: Path = consoles.FOLDER) -> Iterator[Upload]:
    """Every file of the consoles' folder as its upload, but a config.json of its own (the
    stack's is written instead) and hidden files (editor swap files, .DS_Store)."""
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if not path.is_file() or any(part.startswith(".") for part in rel.parts) or rel.as_posix() == "config.json":
            continue
        key = PREFIX + rel.as_posix()
        yield Upload(key, path.read_bytes(), consoles.content_type(path.name), cache_control(key))


def config_upload(live_api_url: str) -> Upload:
    body = json.dumps({"api": "", "live": live_api_url}).encode()
    return Upload(CONFIG_KEY, body, consoles.content_type(CONFIG_KEY), cache_control(CONFIG_KEY))


def stack_outputs(cloudformation: Any, stack: str) -> dict[str, str]:
    try:
        found = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as exc:
        raise DeployError(f"stack {stack}: {exc}") from exc
    return {o["OutputKey"]: o["OutputValue"] for o in found[0].get("Outputs", [])}


def uploads_for(outputs: dict[str, str], stack: str, folder: Path = consoles.FOLDER) -> list[Upload]:
    if "ConsoleBucketName" not in outputs:
        raise DeployError(f"stack {stack} hosts no consoles (its ConsoleHosting parameter is off, or auto on dev)")
    live = outputs.get("LiveApiUrl", "")
    if not live.startswith("wss://"):
        raise DeployError(f"stack {stack} has no LiveApiUrl output (wss://...): deploy the template first")
    return [*console_files(folder), config_upload(live)]


def stale_keys(s3: Any, bucket: str, keep: set[str]) -> list[str]:
    stale = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=PREFIX):
        stale += [o["Key"] for o in page.get("Contents", []) if o["Key"] not in keep]
    return stale


def deploy(session: Any, stack: str, folder: Path = consoles.FOLDER, dry_run: bool = False) -> dict:
    """Upload, remove what is gone, invalidate; what was done (or would be, with dry_run)."""
    outputs = stack_outputs(session.client("cloudformation"), stack)
    uploads = uploads_for(outputs, stack, folder)
    bucket = outputs["ConsoleBucketName"]
    s3 = session.client("s3")
    stale = stale_keys(s3, bucket, {u.key for u in uploads})
    done: dict[str, Any] = {"bucket": bucket, "uploaded": [u.key for u in uploads], "removed": stale,
                            "invalidation": None, "url": outputs.get("ConsoleUrl")}
    if dry_run:
        return done
    for u in uploads:
        s3.put_object(Bucket=bucket, Key=u.key, Body=u.body, ContentType=u.content_type, CacheControl=u.cache_control)
    for start in range(0, len(stale), 1000):   # DeleteObjects takes 1000 keys at most
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in stale[start:start + 1000]],
                                                 "Quiet": True})
    distribution = outputs.get("ConsoleDistributionId")
    if distribution:
        answer = session.client("cloudfront").create_invalidation(
            DistributionId=distribution,
            InvalidationBatch={"Paths": {"Quantity": 1, "Items": ["/console/*"]},
                               "CallerReference": f"consoles-{time.time_ns()}"})
        done["invalidation"] = answer["Invalidation"]["Id"]
    return done


def main(argv: list[str] | None = None) -> int:
    import boto3

    parser = argparse.ArgumentParser(prog="python -m infra.deploy.consoles", description=__doc__.split("\n")[0])
    parser.add_argument("--stack", required=True, help="the CloudFormation stack (sam deploy's stack name)")
    parser.add_argument("--region", help="the stack's region (default: the AWS configuration's)")
    parser.add_argument("--profile", help="an AWS CLI profile")
    parser.add_argument("--dry-run", action="store_true", help="list what would be uploaded and removed")
    args = parser.parse_args(argv)
    session = boto3.session.Session(region_name=args.region, profile_name=args.profile)
    try:
        done = deploy(session, args.stack, dry_run=args.dry_run)
    except DeployError as exc:
        print(f"consoles not deployed: {exc}", file=sys.stderr)
        return 1
    verb = "would upload" if args.dry_run else "uploaded"
    print(f"{verb} {len(done['uploaded'])} files to s3://{done['bucket']}/{PREFIX}; "
          f"removed {len(done['removed'])}; invalidation {done['invalidation'] or '-'}")
    if done["url"]:
        print(f"consoles: {done['url']}ed/ and {done['url']}admin/")
    return 0


if __name__ == "__main__":
    sys.exit(main())

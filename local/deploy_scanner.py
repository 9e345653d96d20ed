"""`make deploy-scanner STACK=<stack>`: put the door app on a deployed stack, after `sam deploy`.

The template makes the private bucket and the CloudFront distribution; this builds the app with the stack's API URL
in config.json (SCANNER_API_BASE_URL), uploads every file under scan/ with no-cache (the browser and CloudFront
revalidate, the service worker keeps the app offline), and invalidates /scan/* so the new build is served at once.
Uses the AWS credentials and region of the environment, as sam deploy does.
"""

from __future__ import annotations

import argparse
import mimetypes
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from local.state import REPOSITORY_ROOT

SCANNER = REPOSITORY_ROOT / "web" / "scanner"
KEY_PREFIX = "scan/"
CONTENT_TYPES = {".js": "text/javascript; charset=utf-8", ".webmanifest": "application/manifest+json"}


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    [stack] = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}


def build(api_base_url: str) -> Path:
    subprocess.run(
        ["npm", "run", "-s", "build"], cwd=SCANNER, env={**os.environ, "SCANNER_API_BASE_URL": api_base_url}, check=True
    )
    return SCANNER / "dist"


def upload(s3: Any, bucket: str, directory: Path) -> list[str]:
    """Every file of the build under scan/, with its content type and no-cache; returns the keys written."""
    keys = []
    for path in sorted(directory.iterdir()):
        if not path.is_file():
            continue
        content_type = (
            CONTENT_TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        )
        key = KEY_PREFIX + path.name
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), ContentType=content_type, CacheControl="no-cache")
        keys.append(key)
    return keys


def main(arguments: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.deploy_scanner", description=__doc__)
    parser.add_argument("--stack", required=True, help="the CloudFormation stack sam deploy made")
    options = parser.parse_args(arguments)
    import boto3

    outputs = stack_outputs(boto3.client("cloudformation"), options.stack)
    keys = upload(boto3.client("s3"), outputs["ScannerAppBucketName"], build(outputs["ApiUrl"]))
    boto3.client("cloudfront").create_invalidation(
        DistributionId=outputs["ScannerAppDistributionId"],
        InvalidationBatch={"Paths": {"Quantity": 1, "Items": [f"/{KEY_PREFIX}*"]}, "CallerReference": str(time.time())},
    )
    print(f"{len(keys)} files uploaded; the door app: {outputs['ScannerAppUrl']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

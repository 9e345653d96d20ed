"""The deploy-time migration: a CloudFormation custom resource that upgrades the schema to head.

`sam deploy` creates or updates the resource whenever the shared layer (which carries the migrations) changes;
a failed migration answers FAILED, and CloudFormation then fails and rolls back the deploy.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from aws_lambda_powertools import Logger

from crowdify.config.settings import get_settings
from crowdify.persistence.migrations import upgrade_to_head

logger = Logger()

PHYSICAL_RESOURCE_ID = "crowdify-database-schema"


def send_result(event: dict[str, Any], status: str, reason: str) -> None:
    """Answer CloudFormation on the pre-signed S3 URL it gave; without an answer the deploy hangs for an hour."""
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason[:3000],
            "PhysicalResourceId": event.get("PhysicalResourceId") or PHYSICAL_RESOURCE_ID,
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "Data": {},
        }
    ).encode()
    request = urllib.request.Request(  # noqa: S310 - CloudFormation's own https ResponseURL
        event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": ""}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        response.read()


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> None:
    if event["RequestType"] == "Delete":
        # Deleting the stack never drops the data.
        send_result(event, "SUCCESS", "schema left in place")
        return
    try:
        upgrade_to_head(get_settings().database_url)
    except Exception as error:
        logger.exception("migration failed")
        send_result(event, "FAILED", f"migration failed: {type(error).__name__}: {error}")
        return
    send_result(event, "SUCCESS", "schema at head")

"""`make deploy-scanner`: the door app's files reach the stack's bucket with what CloudFront and browsers need."""

from __future__ import annotations

from pathlib import Path

import boto3
from moto import mock_aws

from local.deploy_scanner import stack_outputs, upload


def test_upload_puts_every_file_under_scan_with_its_type_and_no_cache(tmp_path: Path) -> None:
    for name, content in {
        "index.html": "<!doctype html>",
        "app.js": "export {}",
        "service-worker.js": "self",
        "config.json": '{"api_base_url": "https://api.example.com"}',
        "manifest.webmanifest": "{}",
        "app.css": "body {}",
    }.items():
        (tmp_path / name).write_text(content)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="door-app")
        keys = upload(s3, "door-app", tmp_path)
        stored = {key: s3.head_object(Bucket="door-app", Key=key) for key in keys}
        config = s3.get_object(Bucket="door-app", Key="scan/config.json")["Body"].read()
    assert sorted(keys) == sorted(f"scan/{path.name}" for path in tmp_path.iterdir())
    assert {key: head["ContentType"] for key, head in stored.items()} == {
        "scan/app.css": "text/css",
        "scan/app.js": "text/javascript; charset=utf-8",
        "scan/config.json": "application/json",
        "scan/index.html": "text/html",
        "scan/manifest.webmanifest": "application/manifest+json",
        "scan/service-worker.js": "text/javascript; charset=utf-8",
    }
    assert {head["CacheControl"] for head in stored.values()} == {"no-cache"}
    assert config == b'{"api_base_url": "https://api.example.com"}'


def test_stack_outputs_are_read_by_name() -> None:
    template = (
        '{"Resources": {"B": {"Type": "AWS::S3::Bucket"}}, "Outputs": {"ApiUrl": {"Value": "https://a.example"}}}'
    )
    with mock_aws():
        cloudformation = boto3.client("cloudformation", region_name="us-east-1")
        cloudformation.create_stack(StackName="crowdify-dev", TemplateBody=template)
        assert stack_outputs(cloudformation, "crowdify-dev") == {"ApiUrl": "https://a.example"}

"""The local stack reads the template's CORS origins as API Gateway would, less what only a deploy knows."""

from __future__ import annotations

from pathlib import Path

from local.sam_template import SamTemplate

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


def test_the_configured_origins_are_allowed_and_the_door_apps_cloudfront_origin_is_left_out() -> None:
    cors = SamTemplate.read(TEMPLATE, {"CorsOrigins": "http://localhost:5173,http://127.0.0.1:8080"}).cors
    assert cors is not None
    # The CloudFront domain exists only once deployed; locally the door app is served from the gateway's own origin.
    assert cors.allow_origins == ("http://localhost:5173", "http://127.0.0.1:8080")
    assert "authorization" in cors.allow_headers and "OPTIONS" in cors.allow_methods

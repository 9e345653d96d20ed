"""End-to-end tests talk to the local stack (`python -m local.stack`) over HTTP."""

from tests.support.stack import local_stack  # noqa: F401 - a fixture, found by name

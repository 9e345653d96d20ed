"""End-to-end tests talk to the local stack (`python -m local.stack`) over HTTP."""

from tests.support.browser import browser_playwright, phone  # noqa: F401 - fixtures, found by name
from tests.support.stack import local_stack  # noqa: F401 - a fixture, found by name

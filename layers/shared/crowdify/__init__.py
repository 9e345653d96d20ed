"""Crowdify's shared layer: settings, auth, persistence, the HTTP error model and adapters."""

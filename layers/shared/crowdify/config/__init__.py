"""Configuration: the one settings model, read from the environment on first use."""

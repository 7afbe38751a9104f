"""Followup: a self-hosted email follow-up assistant."""

__version__ = "0.1.0"

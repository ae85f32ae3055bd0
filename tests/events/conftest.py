"""Fixtures of the event engine tests (helpers live in engine_helpers.py)."""

from engine_helpers import listener_factory

__all__ = ["listener_factory"]

"""Changing the tree search's tuning constants for one test."""

from __future__ import annotations

from dataclasses import replace

from pyregions.counting import settings


def tune(monkeypatch, **changes) -> None:
    """Replace :data:`pyregions.counting.settings.SETTINGS` by a copy with ``changes``."""
    monkeypatch.setattr(settings, "SETTINGS", replace(settings.SETTINGS, **changes))

"""The same as :mod:`pyregions.paper.reproduce`, under its first name."""

from __future__ import annotations

from .paper.reproduce import COLUMNS, Reproduction, reproduce_serra2018

__all__ = ["COLUMNS", "Reproduction", "reproduce_serra2018"]

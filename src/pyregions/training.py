"""The same as :mod:`pyregions.paper.training`, under its first name."""

from __future__ import annotations

from .paper.training import N_CLASSES, error_rate, train_relu_network

__all__ = ["N_CLASSES", "error_rate", "train_relu_network"]

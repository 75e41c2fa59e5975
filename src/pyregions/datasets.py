"""The same as :mod:`pyregions.paper.datasets`, under its first name."""

from __future__ import annotations

from .paper.datasets import DEFAULT_MNIST_MIRROR, MNIST_FILES, mnist, mnist_test_images

__all__ = ["DEFAULT_MNIST_MIRROR", "MNIST_FILES", "mnist", "mnist_test_images"]

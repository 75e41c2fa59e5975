"""Boxes around points."""

from __future__ import annotations

import numpy as np
import pytest

from pyregions import Box, ShapeError


def test_around_is_the_ball_cut_to_the_clip_box():
    box = Box.around([0.5, 0.98, 0.01], 0.05)
    np.testing.assert_allclose(box.lower, [0.45, 0.93, 0.0])
    np.testing.assert_allclose(box.upper, [0.55, 1.0, 0.06])
    free = Box.around([0.5, 0.98], 0.05, clip=None)
    np.testing.assert_allclose(free.upper, [0.55, 1.03])
    per_input = Box.around([0.0, 0.0], 1.0, clip=(np.array([-0.5, -2.0]), 0.25))
    np.testing.assert_allclose(per_input.lower, [-0.5, -1.0])
    np.testing.assert_allclose(per_input.upper, [0.25, 0.25])


@pytest.mark.parametrize(
    ("x", "radius", "clip", "error", "match"),
    [
        ([[0.5]], 0.1, (0, 1), ShapeError, "x must"),
        ([np.nan], 0.1, (0, 1), ShapeError, "x"),
        ([0.5], 0.0, (0, 1), ValueError, "radius must be a positive number, got 0.0"),
        ([3.0], 0.1, (0, 1), ShapeError, "the ball of radius 0.1 around x misses the box"),
    ],
)
def test_around_refuses_bad_input(x, radius, clip, error, match):
    with pytest.raises(error, match=match):
        Box.around(x, radius, clip)

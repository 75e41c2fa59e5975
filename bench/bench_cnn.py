"""Convolutional networks: the bundled LeNet-like MNIST CNN (808 ReLU units)
counted in the plane through three test images, and around 100 test images
at radius 0.01 (the targets of issue 21: each under a minute), beside a
dense MLP of the same widths in the same plane and the plane's count by the
LP search instead of polygons.

Run with ``pytest bench/bench_cnn.py``; each count takes one round, with a
time limit, and notes its regions, rate and process CPU time.
"""

from __future__ import annotations

import time

import pytest

from pyregions import Box, count_regions
from pyregions.local import count_local
from pyregions.network import example_cnn

from tests.tuning import tune

from .conftest import MNIST, compare, random_784

PLANE_SECONDS = 600
LOCAL_SECONDS = 600
LOCAL_POINTS = 100
LOCAL_RADIUS = 0.01


@pytest.fixture(scope="module")
def test_images():
    if not MNIST.is_dir():
        pytest.skip(f"MNIST files not found at {MNIST}")
    from pyregions.datasets import mnist

    return mnist(MNIST, download=False)[2]


@pytest.fixture(scope="module")
def lenet():
    pytest.importorskip("onnx", reason="the bundled CNN is an ONNX file")
    return example_cnn()


def _plane(network, images, note):
    started = time.process_time()
    result = count_regions(network, Box(0, 1), through=images[:3], seed=0, time_limit=PLANE_SECONDS)
    note(complete=result.complete, regions=result.regions, regions_per_second=result.regions / result.seconds,
         cpu_seconds=time.process_time() - started)


def test_cnn_plane_through_three_images(record, note, lenet, test_images):
    record(lambda: _plane(lenet, test_images, note), rounds=1)


def test_dense_mlp_of_the_same_widths_in_the_plane(record, note, lenet, test_images):
    record(lambda: _plane(random_784(lenet.widths), test_images, note), rounds=1)


def test_cnn_plane_by_lps(record, note, lenet, test_images, monkeypatch):
    tune(monkeypatch, polygon_search=False)
    record(lambda: _plane(lenet, test_images, note), rounds=1)


compare("regions per second in the CNN's plane, by polygons against LPs",
        "test_cnn_plane_by_lps", "test_cnn_plane_through_three_images", key="regions_per_second")
compare("regions per second in the plane, CNN against a dense MLP of its widths",
        "test_dense_mlp_of_the_same_widths_in_the_plane", "test_cnn_plane_through_three_images",
        key="regions_per_second")


def test_cnn_local_counts_around_test_images(record, note, lenet, test_images):
    def run():
        started = time.process_time()
        result = count_local(lenet, test_images[:LOCAL_POINTS], LOCAL_RADIUS, time_limit=LOCAL_SECONDS)
        note(complete=result.all_complete, points=int((result.regions >= 0).sum()),
             regions=int(result.regions[result.regions >= 0].sum()), cpu_seconds=time.process_time() - started)

    record(run, rounds=1)

"""Train the bundled MNIST CNN, ``src/pyregions/data/mnist_cnn.onnx``.

    python docs/examples/train_mnist_cnn.py ../shared/data/mnist src/pyregions/data

A LeNet-like network, conv 1->4 5x5 stride 2, ReLU, conv 4->8 3x3 stride 2,
ReLU, dense 32, ReLU, dense 10 (576 + 200 + 32 = 808 ReLU units), trained
with torch for 3 epochs on the first 12,000 training images (seed 0, one
thread, deterministic), exported to ONNX (opset 17); also writes the first
three test images as ``mnist_test_images.npy``, for the README's plane.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pyregions.datasets import mnist

TRAIN_IMAGES = 12_000
EPOCHS = 3


def lenet() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 4, 5, stride=2), nn.ReLU(), nn.Conv2d(4, 8, 3, stride=2), nn.ReLU(),
        nn.Flatten(), nn.Linear(200, 32), nn.ReLU(), nn.Linear(32, 10),
    )


def main(data: str, out: str) -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    x_train, y_train, x_test, y_test = mnist(data, download=False)
    images = torch.from_numpy(x_train[:TRAIN_IMAGES].reshape(-1, 1, 28, 28).astype(np.float32))
    labels = torch.from_numpy(y_train[:TRAIN_IMAGES].astype(np.int64))
    model = lenet()
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    order = torch.Generator().manual_seed(0)
    for _ in range(EPOCHS):
        for batch in torch.randperm(TRAIN_IMAGES, generator=order).split(64):
            optimiser.zero_grad()
            nn.functional.cross_entropy(model(images[batch]), labels[batch]).backward()
            optimiser.step()
    model.eval()
    with torch.no_grad():
        test = torch.from_numpy(x_test.reshape(-1, 1, 28, 28).astype(np.float32))
        error = (model(test).argmax(1).numpy() != y_test).mean()
    print(f"test error {error:.4f}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 1, 28, 28),), Path(out) / "mnist_cnn.onnx",
                          dynamo=False, opset_version=17, input_names=["image"], output_names=["logits"])
    np.save(Path(out) / "mnist_test_images.npy", x_test[:3].astype(np.float32))


if __name__ == "__main__":
    main(*sys.argv[1:])

"""Figures of what the bounds say about network design, and of the linear
regions on a plane or line through given points (:func:`plot_regions`).

Needs the ``plot`` extra (matplotlib), imported inside the functions so that
the rest of pyregions runs without it.  Figures are drawn on the Agg canvas
directly: no display and no pyplot state.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

from . import bounds
from ._validation import check_int, check_int_sequence
from .slices import SliceRegions, slice_regions

__all__ = [
    "SliceRegions", "design_figure", "plot_error_vs_regions", "plot_local_counts", "plot_regions",
    "plot_regions_vs_bounds", "pyplot", "slice_regions",
]


def pyplot():
    """Import and return ``matplotlib.pyplot``, or raise ImportError naming the extra.

    Lets a long run check for matplotlib before it starts.
    """
    _agg()
    import matplotlib.pyplot

    return matplotlib.pyplot


def _agg():
    """Matplotlib's Figure and Agg canvas classes, imported on first use."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:
        msg = "plots need matplotlib: pip install 'pyregions[plot]'"
        raise ImportError(msg) from err
    return Figure, FigureCanvasAgg


def plot_regions_vs_bounds(n1, regions, bounds_by_name, path) -> Path:
    """Counted regions of 784-n1-n2-10 networks against n1, with the bounds.

    For each n1, the mean count over its networks (a line) between their
    minimum and maximum (a band), and one line per bound, on a log scale.

    Parameters
    ----------
    n1 : array_like of shape (n_networks,)
        First hidden width of each network.
    regions : array_like of shape (n_networks,)
        Its region count.
    bounds_by_name : dict of str to array_like of shape (n_networks,)
        Each bound's value for each network; networks of one n1 share it.
    path : str or path-like
        Where to write the figure, in the format its suffix names (``.png``,
        ``.pdf``, ``.svg``, ...); replaced atomically.

    Returns
    -------
    pathlib.Path
    """
    Figure, FigureCanvasAgg = _agg()
    n1 = np.asarray(n1)
    regions = np.asarray(regions, dtype=float)
    widths, first_of_width = np.unique(n1, return_index=True)
    groups = [regions[n1 == width] for width in widths]
    figure = Figure(figsize=(6.5, 4.2), layout="constrained")
    axes = figure.subplots()
    for name, values in bounds_by_name.items():
        # One by one: exact bounds past 2**63 fit no integer array.
        values = np.array([float(value) for value in values])
        axes.plot(widths, values[first_of_width], ".-", label=name)
    axes.fill_between(
        widths, [g.min() for g in groups], [g.max() for g in groups],
        color="black", alpha=0.2, linewidth=0, label="regions, min to max",
    )
    axes.plot(widths, [g.mean() for g in groups], "ko-", label="regions, mean")
    axes.set(yscale="log", xlabel="first hidden layer width n1", ylabel="linear regions")
    axes.set_xticks(widths)
    axes.legend(fontsize="small")
    FigureCanvasAgg(figure)
    return _write_atomically(figure, Path(path))


def plot_local_counts(regions, radius: float, path) -> Path:
    """Histogram of the region counts around many points (:func:`pyregions.local.count_local`).

    Parameters
    ----------
    regions : array_like of int, shape (n_points,)
        The counts; -1 (points not counted) are left out.
    radius : float
        The balls' radius, for the title.
    path : str or path-like
        Where to write the figure, in the format its suffix names; replaced
        atomically.

    Returns
    -------
    pathlib.Path
    """
    Figure, FigureCanvasAgg = _agg()
    counted = np.asarray(regions)[np.asarray(regions) >= 0]
    figure = Figure(figsize=(6.5, 4.2), layout="constrained")
    axes = figure.subplots()
    if counted.size:
        edges = np.arange(counted.min(), counted.max() + 2) - 0.5
        if edges.size > 60:
            edges = np.linspace(counted.min() - 0.5, counted.max() + 0.5, 41)
        axes.hist(counted, bins=edges, color="tab:blue")
    axes.set(
        xlabel="linear regions in the ball", ylabel="points",
        title=f"{counted.size} points, L-infinity radius {radius:g}",
    )
    FigureCanvasAgg(figure)
    return _write_atomically(figure, Path(path))


def plot_error_vs_regions(n1, regions, test_error, path) -> Path:
    """Test error of each network against its region count, red to blue by n1.

    The colours run from red for the narrowest first layer to blue for the
    widest, as in the paper's figure.

    Parameters
    ----------
    n1, regions, test_error : array_like of shape (n_networks,)
        First hidden width, region count and test error of each network.
    path : str or path-like
        Where to write the figure, in the format its suffix names (``.png``,
        ``.pdf``, ``.svg``, ...); replaced atomically.

    Returns
    -------
    pathlib.Path
    """
    Figure, FigureCanvasAgg = _agg()
    from matplotlib.colors import LinearSegmentedColormap, Normalize
    from matplotlib.ticker import MaxNLocator

    n1 = np.asarray(n1)
    colours = LinearSegmentedColormap.from_list("red_to_blue", ["red", "blue"])
    # A single width still needs a non-empty colour range.
    scale = Normalize(n1.min(), max(n1.max(), n1.min() + 1))
    figure = Figure(figsize=(6.5, 4.2), layout="constrained")
    axes = figure.subplots()
    points = axes.scatter(
        np.asarray(regions, dtype=float), test_error, c=n1, cmap=colours, norm=scale,
        edgecolors="none",
    )
    bar = figure.colorbar(points, ax=axes, label="n1")
    bar.ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set(xscale="log", xlabel="linear regions", ylabel="test error")
    FigureCanvasAgg(figure)
    return _write_atomically(figure, Path(path))


def design_figure(n_inputs, total_units, path, *, max_depth=6, bound="serra2018") -> Path:
    """Write the two design panels for a fixed number of hidden units.

    Left: two hidden layers n1 + n2 = ``total_units``, log10 of the bound
    against n1; for large n0 it rises with n1, the bottleneck of a narrow
    first layer.  Right: the best log10 bound over all architectures of each
    depth 1..``max_depth``, from :func:`bounds.rank_architectures`, beside the
    equal-width network of that depth; depth pays only where n0 is small.
    One curve per input dimension in both.

    Parameters
    ----------
    n_inputs : int or sequence of int
        Input dimensions n0, one curve each.
    total_units : int
        Hidden units, at least 2.
    path : str or path-like
        Where to write the figure, in the format its suffix names (``.png``,
        ``.pdf``, ``.svg``, ...); replaced atomically.
    max_depth : int, default=6
        Deepest network in the right panel (capped at ``total_units``).
    bound : {"serra2018", "montufar2017"}, default="serra2018"
        The bound to plot.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ValueError
        If an argument is out of range.
    ImportError
        If matplotlib is not installed.
    """
    _agg()
    _image_format(path)  # before the rankings are computed
    inputs = check_int_sequence(
        [n_inputs] if isinstance(n_inputs, int) else n_inputs, "n_inputs", minimum=1
    )
    total_units = check_int(total_units, "total_units", minimum=2)
    depths = range(1, min(check_int(max_depth, "max_depth", minimum=1), total_units) + 1)
    if bound not in bounds.DESIGN_BOUNDS:
        msg = f"bound must be one of {', '.join(bounds.DESIGN_BOUNDS)}; got {bound!r}"
        raise ValueError(msg)
    Figure, FigureCanvasAgg = _agg()
    exact = getattr(bounds, bound)
    figure = Figure(figsize=(11, 4.2), layout="constrained")
    split, depth = figure.subplots(1, 2)
    first_widths = range(1, total_units)
    for n0 in inputs:
        line = split.plot(
            first_widths,
            [exact(n0, [n1, total_units - n1], log10=True) for n1 in first_widths],
            label=f"n0 = {n0}",
        )[0]
        best = [bounds.rank_architectures(n0, total_units, depth=d, bound=bound, top=1)
                for d in depths]
        depth.plot(depths, [ranking[0][1].log10 for ranking in best], "o-",
                   color=line.get_color())
        even = [exact(n0, bounds.even_widths(total_units, d), log10=True) for d in depths]
        depth.plot(depths, even, "--", color=line.get_color(), alpha=0.7)
    # The colours are explained on the left; the right explains the styles.
    depth.plot([], [], "o-", color="gray", label="best of that depth")
    depth.plot([], [], "--", color="gray", label="equal widths")
    split.set(title=f"Two layers, n1 + n2 = {total_units}", xlabel="first layer width n1",
              ylabel=f"log10 {bound} bound")
    depth.set(title=f"{total_units} units: best architecture of each depth",
              xlabel="hidden layers", ylabel=f"log10 {bound} bound")
    depth.set_xticks(list(depths))
    split.legend(fontsize="small")
    depth.legend(fontsize="small")
    FigureCanvasAgg(figure)
    return _write_atomically(figure, Path(path))


def _image_format(path) -> str:
    """The image format that ``path``'s suffix names; refuse any other."""
    from matplotlib.backend_bases import FigureCanvasBase

    known = FigureCanvasBase.get_supported_filetypes()
    suffix = Path(path).suffix.lower().removeprefix(".")
    if suffix not in known:
        listed = ", ".join(f".{name}" for name in sorted(known))
        msg = f"{path}: unknown image suffix {Path(path).suffix or '(none)'!r}; use one of {listed}"
        raise ValueError(msg)
    return suffix


def _write_atomically(figure, path: Path) -> Path:
    """Save to a temporary file beside ``path``, in the format its suffix
    names, then rename it over ``path``, so that a reader never sees a
    half-written image."""
    image_format = _image_format(path)
    try:
        handle, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
        )
    except OSError as err:
        # Name the file asked for, not the temporary one.
        raise OSError(err.errno, f"cannot write {path}: {err.strerror}") from err
    try:
        with os.fdopen(handle, "wb") as stream:
            figure.savefig(stream, format=image_format, dpi=120)
        # mkstemp makes the file private; give it the usual permissions.
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    return path


COLOURS = ("pattern", "function")


def plot_regions(network, box, points, path, *, colour: str = "pattern", tol: float = 1e-6) -> Path:
    """Draw the linear regions on the plane (or line) through ``points``.

    Each region of :func:`slice_regions` is a polygon with visible edges,
    filled by a colour picked by a hash of its activation pattern, or with
    ``colour="function"`` by the norm of the gradient of the network on it;
    the points are marked. Through 2 points the line's intervals are drawn
    as a strip.

    Parameters
    ----------
    network : Network
    box : Box
    points : array_like of shape (2 or 3, n_inputs)
    path : str or path-like
        Where to write the figure, in the format its suffix names (``.png``,
        ``.pdf``, ``.svg``, ...); replaced atomically.
    colour : {"pattern", "function"}, default="pattern"
        ``"function"``: the Frobenius norm of the Jacobian, with respect to the
        input, of the network's output (of its last hidden layer when it has
        no output layer) on the region.
    tol : float, default=1e-6
        See :func:`slice_regions`.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ShapeError, UnsupportedLayerError
        See :func:`slice_regions`.
    ValueError
        If ``colour`` or the suffix of ``path`` is unknown.
    ImportError
        If matplotlib is not installed.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from pyregions import Box, Network
    >>> net = Network([np.eye(2)], [np.array([-0.5, -0.5])])
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     written = plot_regions(net, Box(0, 1), np.eye(3, 2), os.path.join(folder, "r.png"))
    ...     written.stat().st_size > 0
    True
    """
    if colour not in COLOURS:
        msg = f"colour must be one of {', '.join(COLOURS)}; got {colour!r}"
        raise ValueError(msg)
    Figure, FigureCanvasAgg = _agg()
    _image_format(path)  # before the regions are found
    found = slice_regions(network, box, points, tol=tol)
    figure = Figure(figsize=(7, 6) if found.n_dims == 2 else (9, 2.6), layout="constrained")
    axes = figure.subplots()
    _draw_regions(figure, axes, network, found, colour)
    FigureCanvasAgg(figure)
    return _write_atomically(figure, Path(path))


def _draw_regions(figure, axes, network, found: SliceRegions, colour: str) -> None:
    from matplotlib.collections import PolyCollection
    from matplotlib.colors import Normalize, hsv_to_rgb

    if colour == "pattern":
        # Hue, saturation and value all from the hash: neighbours differ in
        # one unit, and three random coordinates rarely all come out close.
        h, s, v = _pattern_hashes(found.patterns).T
        faces = hsv_to_rgb(np.column_stack([h, 0.35 + 0.45 * s, 0.75 + 0.25 * v]))
        collection = PolyCollection(found.polygons, facecolors=faces)
    else:
        norms = _gradient_norms(network, found.patterns)
        collection = PolyCollection(found.polygons, array=norms, cmap="viridis",
                                    norm=Normalize(norms.min(), max(norms.max(), norms.min() + 1e-12)))
        figure.colorbar(collection, ax=axes, label="gradient norm on the region")
    collection.set(edgecolor="black", linewidth=0.4)
    axes.add_collection(collection)
    t = found.coordinates
    axes.plot(*found.slice_polygon[[*range(len(found.slice_polygon)), 0]].T, color="black", linewidth=1)
    axes.scatter(t[:, 0], t[:, 1], s=40, color="white", edgecolors="black", zorder=3)
    for i, (u, v) in enumerate(t):
        axes.annotate(f"p{i}", (u, v), xytext=(4, 4), textcoords="offset points", zorder=4)
    n = len(found.polygons)
    if found.n_dims == 2:
        axes.set(aspect="equal", xlabel="t1 (along p1 - p0)", ylabel="t2",
                 title=f"{n} linear regions on the plane through p0, p1, p2")
    else:
        axes.set(xlabel="t (distance from p0 towards p1)", yticks=[],
                 title=f"{n} linear regions on the line through p0, p1")
    axes.autoscale_view()


def _pattern_hashes(patterns: np.ndarray) -> np.ndarray:
    """Three fractions in [0, 1) per pattern, stable across runs and platforms."""
    packed = np.packbits(patterns, axis=1)
    digests = b"".join(hashlib.blake2b(row.tobytes(), digest_size=6).digest() for row in packed)
    return np.frombuffer(digests, dtype="<u2").reshape(len(packed), 3) / 65536.0


def _gradient_norms(network, patterns: np.ndarray) -> np.ndarray:
    norms = np.empty(len(patterns))
    for r, pattern in enumerate(patterns):
        G, start = None, 0
        for layer in network.layers:
            G = layer.weights if G is None else layer.weights @ G
            s = pattern[start:start + layer.n_neurons]
            G = s[:, None] * G
            start += layer.n_neurons
        if network.output is not None:
            G = network.output.weights @ G
        norms[r] = np.linalg.norm(G)
    return norms

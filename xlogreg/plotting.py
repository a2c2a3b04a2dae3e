"""Learning curves with matplotlib's non-interactive Agg canvas.

No pyplot: figures are built on :class:`matplotlib.figure.Figure` with an
Agg canvas, so nothing here touches the global backend, opens a window or
needs a display, and plotting from a script or a test leaves no state behind.
"""

from __future__ import annotations

import os

from .io.atomic import atomic_path

__all__ = ["plot_learning_curves", "PLOT_FORMATS"]

#: File suffixes :func:`plot_learning_curves` can write.
PLOT_FORMATS = ("png", "pdf", "svg")


def plot_format(path):
    """The format of a plot file from its suffix; ValueError for one matplotlib is not asked to write."""
    suffix = os.path.splitext(os.fspath(path))[1].lower().lstrip(".")
    if suffix not in PLOT_FORMATS:
        raise ValueError(
            f"plot file {os.fspath(path)!r} must end in one of {', '.join('.' + f for f in PLOT_FORMATS)}"
        )
    return suffix


def _describe(values):
    values = sorted({str(v) for v in values})
    return values[0] if len(values) == 1 else "/".join(values)


def plot_learning_curves(models, path, *, title=None, dpi=100):
    """Plot the recorded cost against the iteration for one or more models.

    As in the course, several models (one per learning rate) share one set of
    axes, each labelled with its learning rate. The file is written
    atomically.

    Parameters
    ----------
    models : Model or sequence of Model
        Each needs ``costs`` and ``cost_iterations``.
    path : str or os.PathLike
        Ending in ``.png``, ``.pdf`` or ``.svg``.
    title : str, optional
        Default: "Learning curve" with the backend, dtype and learning rate.
    dpi : int
        Resolution of PNG output (the figure is 6.4 x 4.8 inches).

    Examples
    --------
    >>> import os, tempfile, xlogreg
    >>> from xlogreg.plotting import plot_learning_curves
    >>> model = xlogreg.train([[0.0, 1.0, 2.0, 3.0]], [0, 0, 1, 1], num_iterations=300, learning_rate=0.5)
    >>> plot_learning_curves(model, os.path.join(tempfile.mkdtemp(), "curve.png"))
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    models = [models] if hasattr(models, "costs") else list(models)
    if not models:
        raise ValueError("models must hold at least one model to plot")
    fmt = plot_format(path)
    fig = Figure(figsize=(6.4, 4.8), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for m in models:
        label = f"learning rate = {m.learning_rate:g}" + (" (interrupted)" if m.interrupted else "")
        ax.plot(m.cost_iterations, m.costs, marker="." if len(m.costs) < 30 else None, label=label)
    ax.set_xlabel("iteration")
    ax.set_ylabel("cost")
    ax.grid(True, alpha=0.3)
    if title is None:
        where = f"{_describe(m.backend for m in models)}, {_describe(m.dtype for m in models)}"
        if len(models) == 1:
            title = f"Learning curve ({where}, learning rate {models[0].learning_rate:g})"
        else:
            rates = ", ".join(f"{m.learning_rate:g}" for m in models)
            title = f"Learning curves ({where}, learning rates {rates})"
    ax.set_title(title)
    if len(models) > 1:
        ax.legend(loc="upper right", frameon=True)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            fig.savefig(f, format=fmt, dpi=dpi)

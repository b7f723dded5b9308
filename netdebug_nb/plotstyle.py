"""One look for every figure the notebooks draw, sized for the report page.

Reports are read in a browser at 100 % on a page at most 1280 px wide: figures are 10 × 3.6 in at
100 dpi (1000 px, room for the page margins), drawn at twice that resolution (``retina``: a 2×
PNG shown at 1×, so lines and text stay crisp without the page growing), with a light grid, titles
and axis labels large enough to read, and legends outside the data when they would cover it.
Plot functions add titles and axis labels with units; this module only sets the defaults.
"""

from __future__ import annotations

from typing import Any

WIDTH_IN = 10.0
HEIGHT_IN = 3.6
DPI = 100

RC: dict[str, Any] = {
    "figure.figsize": (WIDTH_IN, HEIGHT_IN),
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "axes.titlesize": 12,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.labelsize": 10,
    "axes.grid": True,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.framealpha": 0.85,
    "legend.loc": "best",
    "lines.linewidth": 1.4,
    "image.cmap": "viridis",
    "font.family": "DejaVu Sans",
}


def apply() -> None:
    """Set the shared matplotlib defaults in this process (no-op when matplotlib is missing)."""
    try:
        import matplotlib as mpl
    except ImportError:
        return
    params: Any = mpl.rcParams  # typed with literal keys only
    params.update(RC)


def inline() -> None:
    """In IPython: 2× PNGs shown at 1× (crisp in JupyterLab and in the report)."""
    try:
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:
        return
    set_matplotlib_formats("retina")
    apply()  # the inline backend resets figure.dpi when it is configured


def legend_outside(ax: Any, **kwargs: Any) -> Any:
    """A legend to the right of the axes, for plots whose lines fill the whole area."""
    return ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, **kwargs)

"""The report's search figure: energy a search spent (share of the full grid) against its pick's
energy-to-target over the best setup's, one colour per strategy, every simulated order as a dot and the
median with its 10th-90th percentile band."""

from __future__ import annotations

import numpy as np


def search_figure(simulations):
    """``simulations``: :class:`powertrain.search.simulation.Simulation` objects (one per strategy)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.add_subplot()
    for i, sim in enumerate(simulations):
        colour = f"C{i}"
        share = np.array([o["share"] for o in sim.orders])
        ratio = np.array([o["ratio_to_best"] or np.nan for o in sim.orders], dtype=float)
        ax.scatter(share, ratio, s=8, alpha=0.25, color=colour)
        lo, mid, hi = np.nanpercentile(share, [10, 50, 90])
        rlo, rmid, rhi = (
            np.nanpercentile(ratio, [10, 50, 90]) if np.isfinite(ratio).any() else (np.nan,) * 3
        )
        ax.errorbar(
            mid,
            rmid,
            xerr=[[mid - lo], [hi - mid]],
            yerr=[[rmid - rlo], [rhi - rmid]],
            fmt="o",
            color=colour,
            capsize=3,
            label=sim.strategy,
        )
    ax.axhline(1.1, color="grey", linestyle=":", linewidth=1)
    ax.axvline(0.1, color="grey", linestyle=":", linewidth=1)
    ax.set_xscale("log")
    from matplotlib.ticker import FuncFormatter, PercentFormatter

    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.xaxis.set_minor_formatter(FuncFormatter(_sparse_percent))
    ax.set_xlabel("energy spent by the search, share of the full grid (confirmation included)")
    ax.set_ylabel("pick's energy-to-target / best's")
    method = simulations[0].method if simulations else ""
    ax.set_title(f"Search simulated on stored curves [{method}]", fontsize=9, parse_math=False)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _sparse_percent(share: float, _pos=None) -> str:
    """Minor ticks of the log axis labelled at 2, 3 and 5 x a power of ten only (7 %, 8 %, 9 % would
    run into 10 %)."""
    if share <= 0:
        return ""
    leading = share / 10 ** np.floor(np.log10(share))
    return f"{share:.0%}" if round(leading) in (2, 3, 5) else ""

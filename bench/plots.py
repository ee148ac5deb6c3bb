"""PNG plots of the flatten benchmark's results (matplotlib, from the ``bench`` dependency group).

matplotlib is imported at call time, so modules that import this one need only the default
dependencies (``make test`` type-checks ``bench/`` without the ``bench`` group).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def _pyplot() -> Any:
    matplotlib = importlib.import_module("matplotlib")
    matplotlib.use("Agg")
    return importlib.import_module("matplotlib.pyplot")


def grouped_bars(
    path: Path,
    series: Mapping[str, Mapping[str, float | None]],
    tools: Sequence[str],
    *,
    title: str,
    ylabel: str,
    log: bool,
) -> Path:
    """One bar per tool in each group (a size), missing values left out; writes ``path``.

    ``series`` maps a group label (e.g. "100k resources") to each tool's value.
    """
    plt = _pyplot()
    groups = list(series)
    width = 0.8 / max(len(tools), 1)
    fig, ax = plt.subplots(figsize=(11, 5.5))
    for index, tool in enumerate(tools):
        xs, ys = [], []
        for position, group in enumerate(groups):
            value = series[group].get(tool)
            if value is not None and value > 0:
                xs.append(position + (index - (len(tools) - 1) / 2) * width)
                ys.append(value)
        bars = ax.bar(xs, ys, width, label=tool)
        ax.bar_label(bars, labels=[_short(y) for y in ys], fontsize=7, rotation=90, padding=2)
    ax.set_xticks(range(len(groups)), groups)
    if log:
        ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.margins(y=0.15)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _short(value: float) -> str:
    for bound, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= bound:
            return f"{value / bound:.3g}{suffix}"
    return f"{value:.3g}"

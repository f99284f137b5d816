"""Streamlit helpers shared by the pages of phm/dashboard/app/: which store, cached opening, the
refresh period, time formatting and the status badges.

The store folder comes from `PHM_STORE`, else `--store DIR` after `--` on the `streamlit run`
line, else `data/demo/live` (the store of `phm demo`'s defaults).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from phm.dashboard import queries
from phm.dashboard.queries import DashboardStore, StoreMissingError, open_store

DEFAULT_STORE = Path("data/demo/live")
REFRESH_S = float(os.environ.get("PHM_DASHBOARD_REFRESH", "5"))
CACHE_TTL_S = 2.0  # store queries are shared by every page and session for this long
BADGE = {"alarm": "🔴 alarm", "watch": "🟠 watch", "ok": "🟢 ok", "no data": "⚪ no data"}
SEVERITY_COLOR = {"alarm": "#d62728", "watch": "#ff7f0e", "ok": "#2ca02c"}


def store_path() -> Path:
    """The store folder: PHM_STORE, else `--store` after `--`, else data/demo/live."""
    if os.environ.get("PHM_STORE"):
        return Path(os.environ["PHM_STORE"])
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--store", type=Path, default=None)
    known, _ = parser.parse_known_args(sys.argv[1:])
    return known.store or DEFAULT_STORE


@st.cache_resource(show_spinner=False)
def _open(path: str, plant: str | None) -> DashboardStore:
    return open_store(path, plant)


def store_or_stop() -> DashboardStore:
    """The opened store; on a missing store, an error on the page and the run stops (the
    page's refresh timer is not started, so reload once the store exists)."""
    path = store_path()
    try:
        return _open(str(path.resolve()), os.environ.get("PHM_PLANT"))
    except StoreMissingError as exc:
        st.error(f"**Store not found.** {exc}")
        st.stop()
        raise  # st.stop raises; this line keeps type checkers content


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False, max_entries=512)
def _query(name: str, root: str, args: tuple, _store: DashboardStore) -> object:
    return getattr(queries, name)(_store, *args)


def cached(store: DashboardStore, name: str, *args: object) -> Any:
    """`phm.dashboard.queries.<name>(store, *args)`, kept for CACHE_TTL_S seconds (keyed by
    the store folder and the arguments) so pages, fragments and sessions share one answer."""
    return _query(name, str(store.root), args, store)


@st.cache_resource(show_spinner=False)
def graph_labels() -> dict[str, str]:
    """The knowledge graphs' labels (queries.graph_labels), read once per server."""
    return queries.graph_labels()


# Streamlit fades the elements of a running (fragment) rerun; the pages rerun on a timer and
# redraw in place, so the fade only makes live charts flicker
STEADY_CSS = (
    "<style>[data-stale='true'] {opacity: 1 !important; transition: none !important;}</style>"
)


def warn(store: DashboardStore) -> None:
    """The store's warnings (untrained model, stale data) as banners at the top of a page."""
    for text in cached(store, "warnings"):
        st.warning(text, icon="⚠️")


def steady() -> None:
    """Keep a page's elements at full opacity while its live fragment reruns."""
    st.markdown(STEADY_CSS, unsafe_allow_html=True)  # markdown: its code is loaded anyway


def when(t: float | None) -> str:
    """A Unix time as `YYYY-MM-DD HH:MM:SS UTC`, or '-'."""
    if t is None or not np.isfinite(t):
        return "-"
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def ago(seconds: float | None) -> str:
    """A duration like `4 s`, `3.2 min`, `5.0 h`, `2.1 d`, or '-'."""
    if seconds is None or not np.isfinite(seconds):
        return "-"
    s = abs(seconds)
    text = (
        f"{s:.0f} s"
        if s < 120
        else f"{s / 60:.1f} min"
        if s < 7200
        else f"{s / 3600:.1f} h"
        if s < 172800
        else f"{s / 86400:.1f} d"
    )
    return text if seconds >= 0 else f"-{text}"


def dates(t: np.ndarray | list) -> np.ndarray:
    """Unix seconds -> numpy datetime64[ms] (UTC); `charts.times_ms` reads either."""
    return (np.asarray(t, dtype=np.float64) * 1e3).astype("datetime64[ms]")


def rul_text(
    median: float | None, lower: float | None, upper: float | None, failed: bool = False
) -> str:
    """`12.3 h (90%: 5.1-30.2)`; an open end shows as '∞'; `failed` once the displayed RUL
    reached 0; `open` without fault evidence (no RUL median)."""
    if failed:
        return "failed"
    if median is None:
        return "open"

    def f(x: float | None) -> str:
        return "∞" if x is None else f"{x:.1f}"

    return f"{median:.1f} h (90%: {f(lower)}–{f(upper)})"

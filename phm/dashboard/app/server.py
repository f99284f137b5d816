"""The dashboard's ASGI server: Streamlit's `st.App` over app.py, with the page URLs (`/fleet`,
`/asset`, ...) answered by Streamlit's own index.html plus one line that names the server's
root as the app's base URL.

Why: opened at `/asset`, Streamlit's browser client does not know whether `/asset` is a page or
a base path the app is served under, so it first probes `/asset/_stcore/health` and
`/asset/_stcore/host-config` (404s in the browser console, streamlit/streamlit#7074) before
trying `/`. `window.__streamlit.BACKEND_BASE_URL` is the client's documented way to be told
the base; the dashboard is always served at the root of its port.

The server imports what the pages use before it serves and freezes those objects out of the
garbage collector (`gc.freeze`): Streamlit runs a full collection after every script run
(`runner.postScriptGC`), which otherwise walks every module object of polars, numpy, scipy and
Streamlit on each page visit and each timed refresh (~0.07 s idle, more under load).
"""

from __future__ import annotations

import gc
from pathlib import Path

import pandas  # noqa: F401  (Streamlit hands every table to the browser through pandas
import pyarrow  # noqa: F401  and Arrow: loaded here, before gc.freeze below)
import streamlit as st
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

import phm.dashboard.actions
import phm.dashboard.alarm_queries
import phm.dashboard.charts
import phm.dashboard.login
import phm.dashboard.queries
import phm.dashboard.ui  # noqa: F401  (the pages' modules, loaded before gc.freeze below)

HERE = Path(__file__).parent
PAGES = ("fleet", "asset", "alerts", "system", "engineer")  # app.py's url_paths
BASE = "<script>window.__streamlit = {BACKEND_BASE_URL: window.location.origin + '/'};</script>"
_INDEX = Path(st.__file__).parent / "static" / "index.html"


def _index_html() -> str:
    html = _INDEX.read_text(encoding="utf-8")
    return html.replace("<head>", "<head>\n    " + BASE, 1)


INDEX_HTML = _index_html()


async def index(request: Request) -> HTMLResponse:
    """Streamlit's index.html with the base URL set (a page URL or the root)."""
    return HTMLResponse(INDEX_HTML, headers={"Cache-Control": "no-cache"})


gc.collect()
gc.freeze()  # everything loaded so far lives as long as the server: no collection walks it
app = st.App(
    HERE / "app.py",
    routes=[Route("/", index), *[Route(f"/{page}", index) for page in PAGES]],
)

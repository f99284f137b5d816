"""The dashboard's ASGI server: Streamlit's `st.App` over app.py, with the page URLs (`/fleet`,
`/asset`, ...) answered by Streamlit's own index.html plus one line that names the server's
root as the app's base URL.

Why: opened at `/asset`, Streamlit's browser client does not know whether `/asset` is a page or
a base path the app is served under, so it first probes `/asset/_stcore/health` and
`/asset/_stcore/host-config` (404s in the browser console, streamlit/streamlit#7074) before
trying `/`. `window.__streamlit.BACKEND_BASE_URL` is the client's documented way to be told
the base; the dashboard is always served at the root of its port.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

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


app = st.App(
    HERE / "app.py",
    routes=[Route("/", index), *[Route(f"/{page}", index) for page in PAGES]],
)

"""`phm dashboard --store DIR [--port PORT]`: the operators' Streamlit dashboard.

Runs `streamlit run phm/dashboard/app/server.py` (app.py behind Streamlit's ASGI `st.App`, see
server.py) as a child process with the store in `PHM_STORE` (and after `--`), headless, in the
viewer toolbar mode (no Deploy button, no developer menu), and waits for it; Ctrl-C stops it.
`start_dashboard` is the same for callers that keep running (`phm demo` starts the dashboard
beside its live pipeline).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

from phm.errors import PhmError

APP = Path(__file__).resolve().parent / "app" / "server.py"  # shipped in the package (a wheel too)
DEFAULT_PORT = 8501


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        type=Path,
        default=Path("data/demo/live"),
        help="store folder holding state.sqlite and lake/ (default: phm demo's, data/demo/live)",
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="HTTP port (8501)")
    parser.add_argument("--address", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--plant", type=Path, default=None, help="plant TOML (default: phm/configs/)"
    )
    parser.add_argument(
        "--refresh", type=float, default=None, help="seconds between live refreshes (5)"
    )


def dashboard_command(store: Path, port: int, address: str = "127.0.0.1") -> list[str]:
    """The `streamlit run` command line of the dashboard on `store`."""
    if not APP.is_file():
        raise PhmError(f"{APP}: the dashboard app is missing (run from a source checkout)")
    return [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.port", str(port), "--server.address", address,
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none", "--client.toolbarMode", "viewer",
        "--", "--store", str(store),
    ]  # fmt: skip


def start_dashboard(
    store_dir: str | Path,
    port: int = DEFAULT_PORT,
    address: str = "127.0.0.1",
    plant: str | Path | None = None,
    refresh_s: float | None = None,
    **popen: object,
) -> subprocess.Popen:
    """Start the dashboard on `store_dir` (the folder of state.sqlite and lake/) as a child
    process serving http://address:port; the caller stops it (`.terminate()`). A store that
    does not exist yet is fine: the pages say so until it appears."""
    store = Path(store_dir).resolve()
    env = dict(os.environ, PHM_STORE=str(store))
    # the server imports the same phm as its caller, wherever it runs from (cwd is the app's)
    source = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (source, env.get("PYTHONPATH")) if p)
    if plant is not None:
        env["PHM_PLANT"] = str(Path(plant).resolve())
    if refresh_s is not None:
        env["PHM_DASHBOARD_REFRESH"] = str(refresh_s)
    cwd = APP.parent
    return subprocess.Popen(dashboard_command(store, port, address), env=env, cwd=cwd, **popen)


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    proc = start_dashboard(args.store, args.port, args.address, args.plant, args.refresh)
    print(f"dashboard on http://{args.address}:{args.port} (store {args.store}); Ctrl-C stops")
    signal.signal(signal.SIGTERM, _interrupt)  # a terminated `phm dashboard` stops its server
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        return 130

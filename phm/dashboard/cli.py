"""`phm dashboard --store DIR [--port PORT] [--users FILE]`: the operators' Streamlit dashboard.

Runs `streamlit run phm/dashboard/app/server.py` (app.py behind Streamlit's ASGI `st.App`, see
server.py) as a child process with the store in `PHM_STORE` (and after `--`), headless, in the
viewer toolbar mode (no Deploy button, no developer menu), and waits for it; Ctrl-C stops it.
`start_dashboard` is the same for callers that keep running (`phm demo` starts the dashboard
beside its live pipeline).

`--users FILE` (or PHM_DASHBOARD_USERS) names the users who may log in (phm.dashboard.auth);
without it the dashboard is view-only. `phm dashboard adduser --users FILE --name NAME --role
operator` adds a user to that file, reading the password from the terminal (or one line of
stdin with `--password-stdin`) and storing only its argon2 hash.
"""

from __future__ import annotations

import argparse
import getpass
import os
import signal
import subprocess
import sys
from pathlib import Path

from phm.dashboard.auth import ROLES, USERS_ENV, add_user, load_users
from phm.errors import PhmError
from phm.store.state import STATE_HELP, use_state_url

APP = Path(__file__).resolve().parent / "app" / "server.py"  # shipped in the package (a wheel too)
DEFAULT_PORT = 8501


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action",
        nargs="?",
        choices=("serve", "adduser"),
        default="serve",
        help="serve the dashboard (default) or add a user to --users FILE",
    )
    parser.add_argument(
        "--users",
        type=Path,
        default=None,
        help=f"users TOML (roles, argon2 hashes); default ${USERS_ENV}; none: view-only",
    )
    parser.add_argument(
        "--operators",
        type=int,
        default=None,
        help="operators on shift, for the alarm-flood rule (10 alerts / 10 min each; 1)",
    )
    parser.add_argument("--name", default=None, help="adduser: the login name")
    parser.add_argument("--role", choices=ROLES, default="operator", help="adduser: the role")
    parser.add_argument(
        "--password-stdin", action="store_true", help="adduser: read the password from stdin"
    )
    parser.add_argument(
        "--store",
        type=Path,
        default=Path("data/demo/live"),
        help="store folder holding state.sqlite and lake/ (default: phm demo's, data/demo/live)",
    )
    parser.add_argument("--state", default=None, metavar="URL", help=STATE_HELP)
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


def serving(url: str, timeout_s: float = 60.0, every_s: float = 0.3) -> bool:
    """Wait until the dashboard at `url` answers its health check (True), or `timeout_s`
    passes (False)."""
    import time
    import urllib.request

    end = time.time() + timeout_s
    while time.time() < end:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(every_s)
    return False


def start_dashboard(
    store_dir: str | Path,
    port: int = DEFAULT_PORT,
    address: str = "127.0.0.1",
    plant: str | Path | None = None,
    refresh_s: float | None = None,
    users: str | Path | None = None,
    operators: int | None = None,
    **popen: object,
) -> subprocess.Popen:
    """Start the dashboard on `store_dir` (the folder of state.sqlite and lake/) as a child
    process serving http://address:port; the caller stops it (`.terminate()`). A store that
    does not exist yet is fine: the pages say so until it appears. `users`: the users file
    (else PHM_DASHBOARD_USERS of the environment; neither: view-only)."""
    store = Path(store_dir).resolve()
    env = dict(os.environ, PHM_STORE=str(store))
    # the server imports the same phm as its caller, wherever it runs from (cwd is the app's)
    source = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (source, env.get("PYTHONPATH")) if p)
    if plant is not None:
        env["PHM_PLANT"] = str(Path(plant).resolve())
    if refresh_s is not None:
        env["PHM_DASHBOARD_REFRESH"] = str(refresh_s)
    if users is not None:
        load_users(users)  # a missing or bad users file stops here, naming the file and key
        env[USERS_ENV] = str(Path(users).resolve())
    if operators is not None:
        if operators < 1:
            raise PhmError(f"--operators must be at least 1, got {operators}")
        env["PHM_DASHBOARD_OPERATORS"] = str(operators)
    cwd = APP.parent
    return subprocess.Popen(dashboard_command(store, port, address), env=env, cwd=cwd, **popen)


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def adduser(users: Path | None, name: str | None, role: str, password_stdin: bool) -> int:
    """`phm dashboard adduser`: hash a password into the users file."""
    users = users or (Path(os.environ[USERS_ENV]) if os.environ.get(USERS_ENV) else None)
    if users is None or not name:
        raise PhmError("adduser needs --users FILE (or PHM_DASHBOARD_USERS) and --name NAME")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {name}: ")
        if getpass.getpass("again: ") != password:
            raise PhmError("the two passwords differ")
    try:
        add_user(users, name, role, password)
    except ValueError as exc:
        raise PhmError(str(exc)) from None
    print(f"{users}: {name} ({role}) added")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.action == "adduser":
        return adduser(args.users, args.name, args.role, args.password_stdin)
    use_state_url(args.state)  # the server process inherits it
    proc = start_dashboard(
        args.store, args.port, args.address, args.plant, args.refresh, args.users, args.operators
    )
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

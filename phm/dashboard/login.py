"""The dashboard's login box and the page's current session (Streamlit side of phm.dashboard.auth).

The users file comes from PHM_DASHBOARD_USERS (`phm dashboard --users FILE` sets it); without
one the dashboard is view-only. A login lives in the browser tab's Streamlit session until it
expires (`[session] hours`, default 8) or the user logs out; reloading the tab asks again.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import streamlit as st

from phm.dashboard.auth import USERS_ENV, LoginError, Session, UserBook, load_users, login
from phm.errors import ConfigError

SESSION_KEY = "phm_session"
OPERATORS_ENV = "PHM_DASHBOARD_OPERATORS"
VIEW_ONLY = (
    "View only: no users file is configured (`phm dashboard --users FILE`), so nobody can "
    "acknowledge, shelve or take assets out of service."
)


@st.cache_resource(show_spinner=False)
def _book(path: str, mtime: float) -> UserBook:
    return load_users(path)


def users_book() -> UserBook | None:
    """The configured users (None: none configured, or a bad file, shown as an error)."""
    path = os.environ.get(USERS_ENV)
    if not path:
        return None
    try:
        return _book(path, Path(path).stat().st_mtime)
    except (ConfigError, OSError) as exc:
        st.error(f"**Users file unusable, the dashboard is view-only.** {exc}")
        return None


def operators() -> int:
    """Operators on shift (PHM_DASHBOARD_OPERATORS, default 1): the flood rule's divisor."""
    try:
        return max(1, int(os.environ.get(OPERATORS_ENV, "1")))
    except ValueError:
        return 1


def current_session() -> Session | None:
    """This browser session's login, None when anonymous or expired (an expired one is
    dropped here)."""
    session = st.session_state.get(SESSION_KEY)
    if session is not None and not session.valid():
        del st.session_state[SESSION_KEY]
        return None
    return session


def _log_in() -> None:
    book = users_book()
    name = st.session_state.get("login_user", "").strip()
    password = st.session_state.get("login_password", "")
    st.session_state["login_password"] = ""
    if book is None:
        return
    try:
        st.session_state[SESSION_KEY] = login(book, name, password)
        st.session_state.pop("login_error", None)
    except LoginError as exc:
        st.session_state["login_error"] = f"Login refused: {exc}."


def _log_out() -> None:
    st.session_state.pop(SESSION_KEY, None)


def login_box() -> Session | None:
    """The sidebar's login form, or who is logged in with a log-out button; returns the
    session."""
    session = current_session()
    with st.sidebar:
        if users_book() is None:
            st.caption(VIEW_ONLY)
            return None
        if session is not None:
            until = time.strftime("%H:%M UTC", time.gmtime(session.expires_at))
            st.markdown(f"Logged in as **{session.user}** ({session.role}), until {until}")
            st.button("Log out", key="logout", on_click=_log_out)
            return session
        with st.form("login", clear_on_submit=False):
            st.text_input("User", key="login_user")
            st.text_input("Password", type="password", key="login_password")
            st.form_submit_button("Log in", on_click=_log_in)
        if st.session_state.get("login_error"):
            st.error(st.session_state["login_error"])
    return None

"""Login and roles: argon2 users file, wrong passwords refused, sessions expiring, and every
operator action refused on the server for anonymous, viewer and expired sessions."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from phm.cli import main
from phm.dashboard import actions
from phm.dashboard.auth import (
    LoginError,
    NotAllowedError,
    Session,
    add_user,
    allowed,
    load_users,
    login,
)
from phm.dashboard.cli import start_dashboard
from phm.dashboard.queries import open_store
from phm.errors import ConfigError
from phm.store import operator_log
from phm.store.state import StateStore
from tests.dashboards.store_fixture import FixtureStore

T0 = 1_700_000_000.0


@pytest.fixture(scope="module")
def users(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("users") / "users.toml"
    add_user(path, "vic", "viewer", "viewer-pass")
    add_user(path, "ana", "operator", "operator-pass")
    add_user(path, "eve", "engineer", "engineer-pass")
    return path


def test_users_file_holds_only_argon2_hashes(users: Path) -> None:
    text = users.read_text()
    assert "operator-pass" not in text and text.count("$argon2id$") == 3
    assert users.stat().st_mode & 0o077 == 0  # readable by its owner only
    book = load_users(users)
    assert {u: book.users[u].role for u in book.users} == {
        "vic": "viewer", "ana": "operator", "eve": "engineer",
    }  # fmt: skip
    assert book.session_h == 8.0


def test_login_refuses_a_wrong_password_and_an_unknown_user(users: Path) -> None:
    book = load_users(users)
    session = login(book, "ana", "operator-pass", now=T0)
    assert (session.user, session.role, session.expires_at) == ("ana", "operator", T0 + 8 * 3600)
    for name, password in (("ana", "operator-pasS"), ("ana", ""), ("bob", "operator-pass")):
        with pytest.raises(LoginError, match="wrong user name or password"):
            login(book, name, password)


def test_rights_by_role_and_expiry() -> None:
    op = Session("ana", "operator", T0, T0 + 3600)
    eng = Session("eve", "engineer", T0, T0 + 3600)
    view = Session("vic", "viewer", T0, T0 + 3600)
    assert allowed(op, "acknowledge", T0) and allowed(op, "shelve", T0)
    assert not allowed(op, "out_of_service", T0) and allowed(eng, "out_of_service", T0)
    assert not allowed(view, "acknowledge", T0) and not allowed(None, "acknowledge", T0)
    assert not allowed(op, "acknowledge", T0 + 3600)  # expired


def test_anonymous_viewer_and_expired_sessions_cannot_act(fixture_store: FixtureStore) -> None:
    store = open_store(fixture_store.root)
    alert = fixture_store.open_alert
    expired = Session("ana", "operator", T0, T0 + 1)  # long gone
    for session, why in (
        (None, "not logged in"),
        (Session("vic", "viewer", 0, 4e9), "vic is viewer; it needs operator"),
        (expired, "session of ana expired"),
    ):
        with pytest.raises(NotAllowedError, match=why):
            actions.acknowledge(store, session, alert, "should not land")
        with pytest.raises(NotAllowedError):
            actions.shelve(store, session, alert, "no", 1.0)
    op = Session("ana", "operator", 0, 4e9)
    with pytest.raises(NotAllowedError, match="needs engineer"):
        actions.set_out_of_service(store, op, "pump-001", "no")
    state = StateStore(fixture_store.root / "state.sqlite", readonly=True)
    mine = next(a for a in state.alerts() if a.alert_id == alert)
    assert mine.status == "open" and not mine.acknowledgements
    assert operator_log.shelves(state) == {} and operator_log.out_of_service(state) == {}
    assert {a.by for a in operator_log.actions(state)} <= {"Ana", "ana"}  # the fixture's, mine


def test_acknowledging_user_is_the_login(fixture_store: FixtureStore, tmp_path: Path) -> None:
    store = open_store(fixture_store.root)
    alert = fixture_store.open_alert
    who = actions.acknowledge(store, Session("ana", "operator", 0, 4e9), alert, "bearing ordered")
    assert who == "ana"
    state = StateStore(fixture_store.root / "state.sqlite", readonly=True)
    ack = next(a for a in state.alerts() if a.alert_id == alert).acknowledgements[-1]
    assert (ack.by, ack.note) == ("ana", "bearing ordered")
    assert operator_log.actions(state)[0].by == "ana"


def test_adduser_command_and_bad_users_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / "users.toml"
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-password\n"))
    args = ["dashboard", "adduser", "--users", str(path), "--name", "kim", "--role", "engineer"]
    assert main([*args, "--password-stdin"]) == 0
    assert "kim (engineer) added" in capsys.readouterr().out
    assert login(load_users(path), "kim", "a-long-password").role == "engineer"
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main([*args, "--password-stdin"]) == 2
    assert "at least 8 characters" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    for text, match in (
        (
            '[users.x]\nrole = "boss"\npassword_hash = "$argon2id$x"\n',
            r"\[users.x\]: role = 'boss'",
        ),
        ('[users.x]\nrole = "viewer"\npassword_hash = "plain"\n', "must be an argon2 hash"),
        ("[session]\nhours = 0\n", r"\[session\] hours = 0"),
        ("[people]\n", "unknown tables"),
    ):
        bad.write_text(text)
        with pytest.raises(ConfigError, match=match):
            load_users(bad)
    with pytest.raises(ConfigError, match="users file not found"):
        load_users(tmp_path / "none.toml")
    with pytest.raises(ConfigError, match=r"bad.toml: \[people\]|unknown tables"):
        start_dashboard(tmp_path, port=1, users=bad)  # refused before any server starts

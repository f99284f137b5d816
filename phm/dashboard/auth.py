"""Who may do what on the dashboard: users with argon2 password hashes, roles, sessions.

Roles (ROLES), each with the rights of the ones before it:
- viewer: reads every page;
- operator: also acknowledges and shelves alerts;
- engineer: also takes assets out of service (and back), and opens the engineer page.

Users live in a TOML file (`phm dashboard --users FILE`, or PHM_DASHBOARD_USERS); the password
is stored only as its argon2id hash (argon2-cffi's defaults). `phm dashboard adduser` writes it:

    [session]
    hours = 8.0                        # a login expires after this long (default 8 h)

    [users.ana]
    role = "operator"
    password_hash = "$argon2id$v=19$m=65536,t=3,p=4$..."

With no users file configured nobody can act: the dashboard is view-only and says so. Every
operator action checks its session here (`require`), on the server, whatever the page showed.
"""

from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from phm.config import read_toml
from phm.errors import ConfigError, PhmError

ROLES = ("viewer", "operator", "engineer")
# action -> the lowest role allowed to do it
RIGHTS = {
    "acknowledge": "operator",
    "shelve": "operator",
    "out_of_service": "engineer",
    "engineer_page": "engineer",
}
DEFAULT_SESSION_H = 8.0
USERS_ENV = "PHM_DASHBOARD_USERS"
NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified when the user name is unknown, so a wrong name costs as long as a wrong
    password."""
    return _hasher.hash("phm: no such user")


class NotAllowedError(PhmError):
    """An action refused: no session, an expired one, or a role without the right."""


class LoginError(PhmError):
    """A wrong user name or password."""


@dataclass(frozen=True)
class User:
    name: str
    role: str
    password_hash: str


@dataclass(frozen=True)
class UserBook:
    """The users of one file and how long a login lasts (hours)."""

    path: Path
    users: dict[str, User]
    session_h: float = DEFAULT_SESSION_H


@dataclass(frozen=True)
class Session:
    """A login: who, with which role, from when until when (Unix s)."""

    user: str
    role: str
    started_at: float
    expires_at: float

    def valid(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) < self.expires_at


def hash_password(password: str) -> str:
    """The argon2id hash of `password` (at least 8 characters)."""
    if not isinstance(password, str) or len(password) < 8:
        raise ValueError("a password needs at least 8 characters")
    return _hasher.hash(password)


def load_users(path: str | Path) -> UserBook:
    """The users of the TOML file at `path`; ConfigError names the file and the bad key."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: users file not found (create it with phm dashboard adduser)")
    raw = read_toml(path)
    extra = set(raw) - {"session", "users"}
    if extra:
        raise ConfigError(f"{path}: unknown tables {sorted(extra)} (expected session, users)")
    hours = raw.get("session", {}).get("hours", DEFAULT_SESSION_H)
    if isinstance(hours, bool) or not isinstance(hours, int | float) or not hours > 0:
        raise ConfigError(f"{path}: [session] hours = {hours!r}: expected a number > 0")
    users = {}
    for name, entry in raw.get("users", {}).items():
        where = f"{path}: [users.{name}]"
        if not NAME.match(name):
            raise ConfigError(f"{where}: a user name is 1-64 of A-Z a-z 0-9 _ -")
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected a table with role and password_hash")
        role, hashed = entry.get("role"), entry.get("password_hash")
        if role not in ROLES:
            raise ConfigError(f"{where}: role = {role!r}: expected one of {ROLES}")
        if not isinstance(hashed, str) or not hashed.startswith("$argon2"):
            raise ConfigError(
                f"{where}: password_hash must be an argon2 hash (phm dashboard adduser)"
            )
        users[name] = User(name, role, hashed)
    return UserBook(path, users, float(hours))


def _toml_text(book: UserBook) -> str:
    lines = [
        "# phm dashboard users: argon2id password hashes (phm dashboard adduser); roles viewer,",
        "# operator (acknowledge, shelve), engineer (also out-of-service)",
        "[session]",
        f"hours = {book.session_h!r}",
    ]
    for u in sorted(book.users.values(), key=lambda u: u.name):
        lines += [
            "",
            f"[users.{u.name}]",
            f'role = "{u.role}"',
            f'password_hash = "{u.password_hash}"',
        ]
    return "\n".join(lines) + "\n"


def add_user(path: str | Path, name: str, role: str, password: str) -> None:
    """Add (or replace) user `name` with `role` in the users file at `path`, storing only the
    argon2 hash of `password`; the file is created when missing (mode 0600)."""
    path = Path(path)
    if not NAME.match(name):
        raise ConfigError(f"user name {name!r}: use 1-64 of A-Z a-z 0-9 _ -")
    if role not in ROLES:
        raise ConfigError(f"role {role!r}: expected one of {ROLES}")
    book = load_users(path) if path.exists() else UserBook(path, {})
    users = dict(book.users)
    users[name] = User(name, role, hash_password(password))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(_toml_text(UserBook(path, users, book.session_h)))
    tmp.chmod(0o600)
    tmp.replace(path)


def login(book: UserBook, name: str, password: str, now: float | None = None) -> Session:
    """A session for `name` when `password` matches its hash; LoginError otherwise (the same
    message, and about the same time, for an unknown name and a wrong password)."""
    now = time.time() if now is None else now
    user = book.users.get(name)
    try:
        _hasher.verify(user.password_hash if user else _dummy_hash(), password)
        if user is None:
            raise VerificationError
    except (VerificationError, InvalidHashError):
        raise LoginError("wrong user name or password") from None
    return Session(user.name, user.role, now, now + book.session_h * 3600.0)


def allowed(session: Session | None, action: str, now: float | None = None) -> bool:
    """True when `session` is valid at `now` and its role has the right to `action`."""
    if action not in RIGHTS:
        raise ValueError(f"unknown action {action!r}: expected one of {sorted(RIGHTS)}")
    if session is None or not session.valid(now) or session.role not in ROLES:
        return False
    return ROLES.index(session.role) >= ROLES.index(RIGHTS[action])


def require(session: Session | None, action: str, now: float | None = None) -> Session:
    """`session` when it may do `action` now; NotAllowedError saying why otherwise."""
    if allowed(session, action, now):
        assert session is not None
        return session
    if session is None:
        raise NotAllowedError(f"{action}: not logged in (log in as {RIGHTS[action]} or above)")
    if not session.valid(now):
        raise NotAllowedError(f"{action}: the session of {session.user} expired; log in again")
    raise NotAllowedError(
        f"{action}: {session.user} is {session.role}; it needs {RIGHTS[action]} or above"
    )

"""People who log in: Argon2 password hashes, roles, JWT access tokens with expiry."""

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.credentials import HashingGate
from server.db import add_unique
from server.errors import ConflictError, InvalidInputError, UnauthorizedError
from server.models import User
from wire.enums import Role
from wire.validation import name_problem

JWT_ALGORITHM = "HS256"
USERNAME_LENGTH = 150  # users.username
_hasher = PasswordHasher()
# Verified against when the username is unknown, so both cases take the same time.
_DUMMY_HASH = _hasher.hash("not a real password")


@dataclass(frozen=True, slots=True)
class UserPrincipal:
    user_id: int
    username: str
    role: Role
    client_id: int | None  # set for role client: it sees only this client's sites
    token_version: int = 0  # the user's at sign-in; a token of an older version is refused


def create_user(
    *,
    session: Session,
    username: str,
    password: str,
    role: Role,
    client_id: int | None,
    now: datetime,
) -> User:
    if role == Role.CLIENT and client_id is None:
        raise ConflictError("a user with role client needs a client")
    problem = name_problem(username, max_length=USERNAME_LENGTH)
    if problem is not None:
        raise InvalidInputError(f"username {problem}", [{"field": "username", "message": problem}])
    user = User(
        username=username,
        password_hash=_hasher.hash(password),
        role=role.value,
        client_id=client_id,
        created_at=now,
    )
    return add_unique(session=session, row=user, conflict=f"user {username!r} already exists")


def authenticate_user(
    *, session: Session, username: str, password: str, gate: HashingGate | None = None
) -> UserPrincipal:
    """The user, if the password matches; the hashing runs inside `gate`'s bound."""
    user = session.scalars(select(User).where(User.username == username)).one_or_none()
    try:
        with gate.slot() if gate is not None else contextlib.nullcontext():
            _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError) as err:
        raise UnauthorizedError("wrong username or password") from err
    if user is None:
        raise UnauthorizedError("wrong username or password")
    return principal_of(user)


def principal_of(user: User) -> UserPrincipal:
    return UserPrincipal(
        user_id=user.id,
        username=user.username,
        role=Role(user.role),
        client_id=user.client_id,
        token_version=user.token_version,
    )


def revoke_sessions(*, session: Session, user: User) -> None:
    """Every access token and console session of the user stops working at once."""
    user.token_version = (user.token_version or 0) + 1
    session.flush()


def change_password(*, session: Session, user: User, password: str) -> None:
    """A new password; the sessions opened with the old one end."""
    user.password_hash = _hasher.hash(password)
    revoke_sessions(session=session, user=user)


def change_role(*, session: Session, user: User, role: Role, client_id: int | None) -> None:
    """A new role (and client); tokens carrying the old role end."""
    if role == Role.CLIENT and client_id is None:
        raise ConflictError("a user with role client needs a client")
    user.role = role.value
    user.client_id = client_id
    revoke_sessions(session=session, user=user)


def issue_access_token(
    *, principal: UserPrincipal, secret_key: str, ttl: timedelta, now: datetime
) -> str:
    claims: dict[str, Any] = {
        "sub": principal.username,
        "role": principal.role.value,
        "ver": principal.token_version,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
    }
    return jwt.encode(claims, secret_key, algorithm=JWT_ALGORITHM)


def user_from_access_token(*, session: Session, token: str, secret_key: str) -> UserPrincipal:
    """The token's user, read fresh from the database so a deleted user is locked out."""
    try:
        claims = jwt.decode(
            token, secret_key, algorithms=[JWT_ALGORITHM], options={"require": ["exp", "sub"]}
        )
    except jwt.PyJWTError as err:
        raise UnauthorizedError("invalid or expired token") from err
    user = session.scalars(select(User).where(User.username == claims["sub"])).one_or_none()
    if user is None or claims.get("ver") != user.token_version:
        raise UnauthorizedError("invalid, expired or revoked token")
    return principal_of(user)

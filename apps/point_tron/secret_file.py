"""The JWT signing secret when ``JWT_SECRET`` is not set: generated once, kept beside the database.

The file is ``<DB_PATH>.jwt-secret`` (``data/point-tron.db.jwt-secret``), mode 0600, one line
of 64 random URL-safe characters (48 bytes from :mod:`secrets`). It is created atomically:
written to a temporary file, then hard-linked into place, which fails if the name exists. So
several instances starting together over one database (ptm's cluster mode) all end up with
the one secret that won. Deleting the file signs every user out at the next start.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path

__all__ = ["MIN_SECRET_CHARS", "SecretFileError", "load_or_create_secret", "secret_path"]

SECRET_BYTES = 48
MIN_SECRET_CHARS = 32
_MODE = 0o600


class SecretFileError(Exception):
    """The secret file exists but cannot be used; the message is one line naming it."""


def secret_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".jwt-secret")


def load_or_create_secret(db_path: Path) -> tuple[str, bool]:
    """The secret kept beside ``db_path`` and whether it was just generated.

    Raises SecretFileError (the file is unusable: a link, not a regular file, too short) or
    OSError (cannot read or write it).
    """
    path = secret_path(Path(db_path))
    if not path.parent.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(FileNotFoundError):
        return _read(path), False
    secret = secrets.token_urlsafe(SECRET_BYTES)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, flags, _MODE)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as file:
            os.fchmod(file.fileno(), _MODE)  # whatever the umask
            file.write(secret + "\n")
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:  # another instance was first: use its secret
            return _read(path), False
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_folder(path.parent)
    return secret, True


def _read(path: Path) -> str:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a link
            raise SecretFileError(f"{path}: is a symbolic link; refusing to read it") from None
        raise
    with os.fdopen(fd, "rb") as file:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SecretFileError(f"{path}: not a regular file")
        if stat.S_IMODE(st.st_mode) & 0o077:
            os.fchmod(fd, _MODE)  # an older or hand-made file readable by others
        raw = file.read(4096)
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        text = ""
    if len(text) < MIN_SECRET_CHARS or any(c.isspace() for c in text):
        raise SecretFileError(
            f"{path}: holds no usable JWT secret (one line of at least {MIN_SECRET_CHARS}"
            " characters); delete it to generate a new one"
        )
    return text


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

"""The service's own files, readable by its user alone: `EXPORTS_HOME` and the folders it
makes are 0700, the SQLite store's files and the generated secrets 0600."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import tempfile
from pathlib import Path

FOLDER_MODE = 0o700
FILE_MODE = 0o600


def private_folder(path: Path) -> Path:
    """`path` as a folder; created 0700 when it is absent (its missing parents too)."""
    for folder in reversed([path, *path.parents]):
        if not folder.exists():
            with contextlib.suppress(FileExistsError):
                folder.mkdir(mode=FOLDER_MODE)
    return path


def private_home(path: Path) -> Path:
    """`path` (EXPORTS_HOME) as a folder of its owner's alone: created 0700, or an existing
    one's group and other permissions taken away, unless it is a shared folder (sticky or
    writable by all, like /tmp), which is left as it is."""
    private_folder(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if not mode & (stat.S_ISVTX | stat.S_IWOTH):
        tighten(path, FOLDER_MODE)
    return path


def tighten(path: Path, mode: int) -> None:
    """Take every permission beyond `mode` away from `path`, when it exists and is ours."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return
    if st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) & ~mode:
        path.chmod(stat.S_IMODE(st.st_mode) & mode)


def private_file(path: Path) -> Path:
    """`path` as a file of mode 0600 (or tighter): created empty when absent, else its
    group's and others' permissions taken away."""
    private_folder(path.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    tighten(path, FILE_MODE)
    return path


def load_or_create_secret(path: Path, *, what: str) -> str:
    """The secret stored in `path`; a new random one (32 bytes, URL-safe base64) is stored
    there first when it is absent. `what` names the secret in errors.

    The file is written whole under a temporary name (mode 0600) and linked into place, so
    a reader never sees a partial secret and, of several processes creating it at once,
    exactly one wins and all use its secret.
    """
    try:
        return _read_secret(path, what)
    except FileNotFoundError:
        pass
    private_folder(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        with os.fdopen(fd, "w") as out:  # mkstemp creates the file with mode 0600
            out.write(secrets.token_urlsafe(32) + "\n")
            out.flush()
            os.fsync(out.fileno())
        # FileExistsError: another process got there first, and its secret is the one.
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
    return _read_secret(path, what)


def _read_secret(path: Path, what: str) -> str:
    secret = path.read_text().strip()
    if not secret:
        raise ValueError(f"the {what} file {path} is empty; delete it to generate one")
    return secret

"""Writing outputs whole or not at all, by one rule for every command.

* A path to write must not be empty, and its parent folder must exist: qinternet creates the file or the
  output folder it is asked for, never the folders above it (a typo then fails at once instead of making
  ``/nonexistent/`` at the root).
* A file is written under a temporary name next to its place and renamed over it when complete
  (:func:`replacing`), so a reader never sees half a file and a failure leaves the old one.
* A command that writes several files into a folder writes them into a staging folder first and moves them
  into place together (:func:`staged_folder`); if anything fails or the command is interrupted, the folder is
  left exactly as it was, so the files of two runs are never mixed.

This module sits beside :mod:`qinternet.errors`: it depends on the standard library only, so every layer
that writes files (key-management certificates, application keys, reports) can use it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

from qinternet.errors import ParameterError

__all__ = [
    "check_output_file",
    "check_output_folder",
    "create_file",
    "replacing",
    "staged_folder",
    "write_file",
    "writing",
]

_PART = ".part"
"""Suffix of files and folders being written (hidden, with a random token: ``.summary.json.3f2a.part``)."""


def _check_path(path: Path, field: str) -> None:
    if str(path) == "":
        raise ParameterError(field, "must not be empty")
    parent = path.absolute().parent
    if not parent.is_dir():
        raise ParameterError(field, f"folder {str(parent)!r} does not exist (qinternet does not create it)")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ParameterError(field, f"cannot write in {str(parent)!r}: permission denied")


def check_output_file(path: Path, field: str, suffixes: Sequence[str] = ()) -> None:
    """Fail early, before any work, when ``path`` cannot become the output file named by ``field``.

    Raises:
        ParameterError: ``path`` is empty, has none of ``suffixes`` (when given), is a folder, or its folder
            is missing or not writable.
    """
    _check_path(path, field)
    if suffixes and path.suffix.lower() not in suffixes:
        raise ParameterError(field, f"file must end in {' or '.join(suffixes)}, got {path.name!r}")
    if path.is_dir():
        raise ParameterError(field, f"{str(path)!r} is a folder, not a file")


def _check_replaceable(path: Path, field: str) -> None:
    """An existing file may be replaced only if it could be written: a file made read-only stays as it is."""
    if path.is_dir() and not path.is_symlink():
        raise ParameterError(field, f"cannot write {str(path)!r}: it is a folder")
    if path.exists() and not os.access(path, os.W_OK):
        raise ParameterError(field, f"cannot write {str(path)!r}: permission denied")


def check_output_folder(folder: Path, field: str, names: Sequence[str] = ()) -> None:
    """Fail early, before any work, when ``folder`` cannot become (or be) the output folder named by ``field``.

    Raises:
        ParameterError: ``folder`` is empty, is a file, is not writable, or its parent folder is missing; or
            one of the files ``names`` it would get is a folder or is read-only.
    """
    if str(folder) == "":
        raise ParameterError(field, "must not be empty")
    if folder.exists():
        if not folder.is_dir():
            raise ParameterError(field, f"{str(folder)!r} is a file, not a folder")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise ParameterError(field, f"cannot write in {str(folder)!r}: permission denied")
        for name in names:
            _check_replaceable(folder / name, field)
        return
    _check_path(folder, field)


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}{_PART}")


@contextlib.contextmanager
def writing(path: Path, field: str) -> Iterator[None]:
    """Turn an operating-system error while writing ``path`` into a :class:`ParameterError` naming ``field``."""
    try:
        yield
    except OSError as error:
        raise ParameterError(field, f"cannot write {str(path)!r}: {error.strerror or error}") from None


@contextlib.contextmanager
def replacing(path: Path, field: str, *, private: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` to write; when the block ends normally it replaces ``path``.

    If the block raises (or is interrupted), the temporary file is removed and ``path`` is unchanged.
    ``private`` files are created readable by their owner only (private keys); others follow the umask.

    Raises:
        ParameterError: naming ``field``, when the file cannot be written or moved into place.
    """
    temporary = _temporary(path)
    try:
        with writing(path, field):
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o666)
            os.close(descriptor)
        yield temporary
        with writing(path, field):
            if private:
                os.chmod(temporary, 0o600)  # a writer that replaced the file must not widen it
            os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def create_file(path: Path, data: bytes, *, private: bool = False) -> None:
    """Create the new file ``path`` with ``data`` (in a staging folder); ``private``: readable by its owner only,
    from the moment it exists."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o666)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def write_file(path: Path, data: bytes | str, field: str, *, private: bool = False) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` whole or not at all (see :func:`replacing`)."""
    payload = data.encode() if isinstance(data, str) else data
    with replacing(path, field, private=private) as temporary, writing(path, field):
        temporary.write_bytes(payload)


@contextlib.contextmanager
def staged_folder(folder: Path, names: Sequence[str], field: str) -> Iterator[Path]:
    """Yield a staging folder in which the block writes the files ``names``; then they replace those in ``folder``.

    ``folder`` is created if missing (its parent must exist). The files move into place together only
    after the block has written all of them: if the block raises or is interrupted, or a file cannot be
    moved, ``folder`` keeps what it had (files of a previous run stay as they were, all of them).

    Raises:
        ParameterError: naming ``field``, when the folder cannot be written (an ``OSError`` of the block
            included), or a name in it is a folder.
    """
    check_output_folder(folder, field, names)
    new_folder = not folder.exists()
    stage = _temporary(folder) if new_folder else folder / f".qinternet-staging.{secrets.token_hex(4)}{_PART}"
    with writing(folder, field):
        stage.mkdir()
    try:
        with writing(folder, field):
            yield stage
        missing = [name for name in names if not (stage / name).is_file()]
        if missing:
            raise RuntimeError(f"the command did not write {', '.join(missing)}")  # a bug, not the user's fault
        if new_folder:
            with contextlib.suppress(OSError):
                stage.rename(folder)  # the whole folder appears at once
                return
        check_output_folder(folder, field, names)  # again: the folder may have changed while the block ran
        _commit(stage, folder, names, field)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _commit(stage: Path, folder: Path, names: Sequence[str], field: str) -> None:
    """Move ``stage/name`` to ``folder/name`` for every name, all or none (the old files are kept until then)."""
    backup = stage / ".previous"
    backup.mkdir()
    saved: list[str] = []
    placed: list[str] = []
    try:
        with writing(folder, field):
            for name in names:
                if (folder / name).exists() or (folder / name).is_symlink():
                    os.replace(folder / name, backup / name)
                    saved.append(name)
            for name in names:
                os.replace(stage / name, folder / name)
                placed.append(name)
    except BaseException:
        for name in placed:
            with contextlib.suppress(OSError):
                os.replace(folder / name, stage / name)
        for name in saved:
            with contextlib.suppress(OSError):
                os.replace(backup / name, folder / name)
        raise

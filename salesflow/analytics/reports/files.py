"""Writing report files so that a failure leaves nothing half-written.

`check_directory` / `check_file` run before the report is computed, so bad paths are refused without work
(they probe with a temporary file: a permission bit says nothing when running as root). `write_all` writes
every file to a temporary name beside its target and renames them only when all are written; a failure
removes the temporaries and leaves any earlier files as they were.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path


class OutputPathError(ValueError):
    """A report path that cannot be written; `option` is the command-line option that named it."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}")
        self.option = option


def _probe(directory: Path, option: str) -> None:
    try:
        handle, name = tempfile.mkstemp(dir=directory, prefix=".salesflow-probe-")
    except OSError as exc:
        raise OutputPathError(option, f"cannot write in {directory}: {exc.strerror or exc}") from exc
    os.close(handle)
    os.unlink(name)


def check_directory(path: Path, option: str) -> None:
    """`path` is a directory the report can write into, or one that can be created in an existing one."""
    if path.exists():
        if not path.is_dir():
            raise OutputPathError(option, f"{path} is not a directory")
        _probe(path, option)
        return
    parent = path.parent
    if not parent.is_dir():
        raise OutputPathError(option, f"{parent} does not exist (the directory is created, its parent is not)")
    _probe(parent, option)


def check_file(path: Path, option: str) -> None:
    """`path` is a file the report can create or replace."""
    if path.is_dir():
        raise OutputPathError(option, f"{path} is a directory, a file name is needed")
    if not path.parent.is_dir():
        raise OutputPathError(option, f"{path.parent} does not exist")
    _probe(path.parent, option)


def write_all(files: Mapping[Path, bytes]) -> None:
    """Write every file (temporary names first, then one rename each); all or, on an error, none of them."""
    temporaries: dict[Path, str] = {}
    try:
        for target, content in files.items():
            target.parent.mkdir(exist_ok=True)
            handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
            temporaries[target] = name
            with os.fdopen(handle, "wb") as out:
                out.write(content)
            os.chmod(name, 0o644)  # mkstemp makes 0600; a report is an ordinary file
        for target, name in temporaries.items():
            os.replace(name, target)
    finally:
        for name in temporaries.values():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)

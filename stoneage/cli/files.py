"""Files the client writes: credentials and configs (mode 0600) never silently overwritten."""

from __future__ import annotations

import os
from pathlib import Path

from stoneage.cli.errors import UsageProblem


def write_new_file(destination: Path, content: bytes, *, secret: bool, force: bool) -> int:
    if destination.exists() and not force:
        raise UsageProblem(f"{destination} exists; pass --force to overwrite it.")
    mode = 0o600 if secret else 0o644
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(destination, flags, mode)
    except OSError as exc:
        raise UsageProblem(f"Cannot write {destination}: {exc.strerror}.") from None
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), mode)  # an existing file keeps its mode through O_TRUNC
        handle.write(content)
    return len(content)

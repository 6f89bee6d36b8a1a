"""One writer per store: a lock file beside the store, holding the writer's PID and host.

``generate`` without ``--process-count`` takes ``<store>.lock`` (created with ``O_EXCL``; the
store's real path, symlinks resolved, so a link to a store shares its lock)
before it creates, repairs or trains anything, and removes it when it ends. A second
``generate`` on the same ``--out`` is refused with the holder's PID and host. A lock left by
a killed run is taken over when its PID is no longer alive on this host; a lock from another
host (a shared file system) is never guessed stale: the message says how to remove it.
Workers that share a store on purpose (``--process-count N``) own disjoint blocks and take
no lock.

Holding the lock also makes it safe to remove ``.NAME.tmp-XXXXXXXX/`` directories left by
a creation that was killed before its final rename (no other creator can be running).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import re
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

from mlds_jax.errors import StoreError

log = logging.getLogger("mlds_jax")


def lock_path(out: str | os.PathLike) -> Path:
    """``<store>.lock`` beside the store's real path (symlinks resolved), so a link to a
    store and the store itself share one lock."""
    return Path(f"{os.path.realpath(os.fspath(out))}.lock")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _try_create(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        json.dump({"pid": os.getpid(), "host": socket.gethostname(),
                   "started": datetime.datetime.now(datetime.UTC).isoformat(
                       timespec="seconds")}, f)
    return True


def _holder(path: Path) -> dict | None:
    try:
        d = json.loads(path.read_text())
        return d if isinstance(d, dict) and isinstance(d.get("pid"), int) else None
    except (OSError, ValueError):
        return None


def acquire(out: str | os.PathLike) -> Path:
    """Takes the lock of the store at ``out`` or raises :class:`StoreError` naming the
    holder. Takes over a lock whose process is gone (same host)."""
    path = lock_path(out)
    if Path(out).is_dir() and not os.access(out, os.W_OK):  # before training, not after
        raise StoreError(f"{out}: the store is not writable (check its permissions, or copy "
                         "it somewhere writable and resume there)")
    if not path.parent.exists():  # (a parent that is a file fails below, naming the path)
        path.parent.mkdir(parents=True)
    for _ in range(2):
        if _try_create(path):
            return path
        h = _holder(path)
        if h is not None and h.get("host") == socket.gethostname() and not _alive(h["pid"]):
            log.warning("mlds-jax: %s: taking over the lock of PID %s, which is gone",
                        path, h["pid"])
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            continue
        break
    if h is None:
        raise StoreError(f"{path}: an unreadable lock file guards {out}; if no mlds-jax "
                         "generate is writing that store, delete the lock file and retry")
    raise StoreError(
        f"{path}: {out} is being written by PID {h['pid']} on {h.get('host', '?')} since "
        f"{h.get('started', '?')}; wait for it to finish (or, if that process is gone, delete "
        "the lock file); to share one store between workers give each its own "
        "`process_index` of one `process_count`")


def release(path: Path) -> None:
    h = _holder(path)
    if h is not None and h["pid"] == os.getpid():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def remove_orphans(out: str | os.PathLike) -> list[Path]:
    """Removes ``.NAME.tmp-XXXXXXXX/`` directories that an interrupted creation of the store
    at ``out`` left behind. Call only while holding the store's lock."""
    p = Path(os.path.realpath(os.fspath(out)))
    pattern = re.compile(rf"^\.{re.escape(p.name)}\.tmp-[0-9a-f]{{8}}$")
    removed = []
    if p.parent.is_dir():
        for d in p.parent.iterdir():
            if pattern.match(d.name) and d.is_dir() and not d.is_symlink():
                shutil.rmtree(d)
                removed.append(d)
                log.warning("mlds-jax: removed %s, left by an interrupted store creation", d)
    return removed


@contextlib.contextmanager
def writer_lock(out: str | os.PathLike) -> Iterator[Path]:
    """``with writer_lock(out):`` the only writer of the store at ``out`` (see module doc)."""
    path = acquire(out)
    try:
        remove_orphans(out)
        yield path
    finally:
        release(path)

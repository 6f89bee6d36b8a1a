"""One look for every long command's progress: ``generate``, ``analyze``, ``report``,
``data fetch`` and ``data import`` show tqdm bars with one rate and a clock that keeps
ticking while a step runs (a compile, a download), and plain status lines between them.

A leaf module (like ``_provenance``): every room may import it.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from tqdm.auto import tqdm

# One rate on the bar: the postfix's rate of this run (tqdm's own s/item is left out: beside
# it, two rates in two units read as two numbers for one thing).
BAR_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]"
# A byte count (downloads): tqdm's own rate and sizes in kB/MB.
BYTES_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}{postfix}]"
TICK_SECONDS = 1.0


def _tick(bar: Any, stop: threading.Event) -> None:
    """Redraws ``bar`` every :data:`TICK_SECONDS` until it closes, so its clock moves while
    the main thread waits in one long call (tqdm redraws only on an update)."""
    while not stop.wait(TICK_SECONDS):
        if bar.disable:  # closed
            return
        bar.refresh()


def progress_bar(total: int | None, desc: str, *, enabled: bool = True, unit: str = "net",
                 initial: int = 0, tick: bool = True, **kwargs: Any) -> Any:
    """A tqdm bar on stderr in the shared format; ``enabled=False`` gives a silent one.

    ``tick``: the elapsed clock redraws every second until :meth:`close`, so a step that
    makes no update for a while (compiling, the first training segment) still shows that
    the command is alive.
    """
    kwargs.setdefault("bar_format", BAR_FORMAT)
    kwargs.setdefault("file", sys.stderr)
    bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, disable=not enabled,
               smoothing=0.0, **kwargs)
    if enabled and tick:
        stop = threading.Event()
        threading.Thread(target=_tick, args=(bar, stop), daemon=True,
                         name="mlds-jax-progress").start()
        close = bar.close

        def _close() -> None:
            stop.set()
            close()

        bar.close = _close
    return bar


def status_line(message: str, *, enabled: bool = True) -> None:
    """``message`` as one line on stderr (between bars, not through them)."""
    if enabled:
        tqdm.write(message, file=sys.stderr)

"""Processes die with their supervisor: no `baas` process is ever orphaned (Linux)."""

from __future__ import annotations

import ctypes
import os
import signal
import threading
import time

PR_SET_PDEATHSIG = 1
#: set by the `baas` supervisor for its children; their own server workers read it
ENV_FLAG = "BAAS_DIE_WITH_PARENT"


def _load_prctl():
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None


# Resolved at import, not in a forked child: dlopen() after fork() can deadlock.
_PRCTL = _load_prctl()


def die_with_parent() -> None:
    """Get SIGTERM when the parent process dies."""
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, signal.SIGTERM)


def worker_started() -> None:
    """In a server's worker process (granian forks its own): die with the server process
    too, and stop at once if it is already gone."""
    if os.environ.get(ENV_FLAG) != "1":
        return
    die_with_parent()
    if os.getppid() == 1:
        os.kill(os.getpid(), signal.SIGTERM)


def application_loaded() -> None:
    """A server process has imported its application (the `baas` commands' servers only):
    do now what its first requests would otherwise pay for, then keep everything
    allocated so far out of the garbage collector's way (`gc.freeze`).

    - The URLconf and with it every view; every collection's spec and model, and the
      rule parser's lexer (apps.collections.services.warm_up): about 20 ms on a first
      record request here, which landed on a few unlucky requests per process.
    - Django and the apps leave about 140,000 objects behind at start-up; without the
      freeze every full collection walks them all, a 60 ms pause on this stack.
    - A background thread, each second: a WAL checkpoint on the embedded database
      (apps/core/sqlite/checkpoint.py), and the same warm-up for collections created or
      changed since (a schema change in one process reaches the others' first requests
      to it otherwise: 5-10 ms each, the slowest writes of a run).
    """
    if os.environ.get(ENV_FLAG) != "1":
        return
    import gc
    import logging

    from django.db import connections
    from django.urls import get_resolver

    _ = get_resolver().url_patterns  # imports the URLconf and every view
    stamps = None
    try:
        from apps.collections.services import schema_stamps, warm_up

        stamps = schema_stamps()
        warm_up()
    except Exception:  # no database yet, say: the first requests do it then
        logging.getLogger(__name__).debug("warm-up skipped", exc_info=True)
    finally:
        connections.close_all()  # requests run on threads with their own connections
    threading.Thread(
        target=_background, args=(stamps,), name="baas-background", daemon=True
    ).start()
    gc.collect()
    gc.freeze()


BACKGROUND_SECONDS = 1.0


def _background(stamps: dict | None) -> None:
    import logging

    from django.db import connection

    while True:
        time.sleep(BACKGROUND_SECONDS)
        try:
            stamps = background_step(stamps)
        except Exception:
            logging.getLogger(__name__).debug("background work failed", exc_info=True)
            connection.close()


def background_step(stamps: dict | None) -> dict:
    """One turn of the background thread; the schema stamps it saw."""
    from apps.collections.services import schema_stamps, warm_up
    from apps.core.sqlite import checkpoint

    if checkpoint.wanted():
        checkpoint.run()
    now = schema_stamps()
    if stamps is not None:
        changed = {pk for pk, stamp in now.items() if stamps.get(pk) != stamp}
        if changed:
            warm_up(changed)
    return now

"""Pause points for the crash tests; inert unless ``WORMSIGN_TEST_PAUSE`` names a stage.

A test hook, not a feature. ``WORMSIGN_TEST_PAUSE=stage[:n]`` makes the process, the n-th time
(1 when not given) it reaches ``stage``, write its pid to the file named by
``WORMSIGN_TEST_PAUSE_FILE`` and sleep (at most :data:`PAUSE_S` seconds, then go on), so that a
test can kill it there with SIGKILL (tests/ingest/test_kill.py). The stages:

``parse``    ingest: a worker's shard written to staging, not committed, the parser processes at work
``commit``   ingest: a shard's ``shards``, ``sources`` and ``rejects`` rows written, before the COMMIT
             (also a merge of resolved shards, :func:`wormsign.resolve.compact`: renamed, not committed)
``committed`` ingest: a shard committed in the catalog, its file not yet moved out of staging (also
             a merge)
``resolve``  resolution: the host identities committed, no event enriched yet (1st); each batch
             of enriched events committed, the case not yet marked resolved (2nd, 3rd, ...)
"""

from __future__ import annotations

import os
import time

#: How long a paused process waits for its test to kill it before it goes on.
PAUSE_S = 60.0

_seen: dict[str, int] = {}


def pause(stage: str) -> None:
    """Pause here when ``WORMSIGN_TEST_PAUSE`` names ``stage`` (see the module docstring)."""
    want = os.environ.get("WORMSIGN_TEST_PAUSE")
    if not want:
        return
    name, _, nth = want.partition(":")
    if name != stage:
        return
    _seen[stage] = _seen.get(stage, 0) + 1
    if _seen[stage] != (int(nth) if nth else 1):
        return
    path = os.environ.get("WORMSIGN_TEST_PAUSE_FILE")
    if path:
        with open(path + ".tmp", "w", encoding="ascii") as fh:
            fh.write(str(os.getpid()))
        os.replace(path + ".tmp", path)  # the test sees the whole pid or nothing
    time.sleep(PAUSE_S)

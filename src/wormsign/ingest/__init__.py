"""Readers that turn collected telemetry into the one event model, and the ingest pipeline."""

from wormsign.ingest.base import IngestError, Reject, Sink, Source, Stats
from wormsign.ingest.pipeline import IngestReport, ingest_paths

__all__ = ["IngestError", "IngestReport", "Reject", "Sink", "Source", "Stats", "ingest_paths"]


def _callable() -> None:
    """``wormsign.ingest(case, paths)``: this package called is :func:`wormsign.library.ingest`."""
    from wormsign.library import callable_module, ingest

    callable_module(__name__, ingest)


_callable()

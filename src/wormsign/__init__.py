"""wormsign: find network worms in the telemetry defenders already collect, and show how they spread."""

__version__ = "0.1.0"

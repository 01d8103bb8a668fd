"""Energy meters: one interface (``base.Meter``), one module per backend, detection in ``detect``."""

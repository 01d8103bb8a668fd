"""Models in plain torch, built by name (``registry.build_model``)."""

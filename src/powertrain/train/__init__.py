"""Training to a target: the loop (``loop``), what a step and an evaluation are (``steps``), and the
device, seeding and optimiser set-up (``setup``)."""

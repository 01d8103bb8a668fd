"""From joules to CO2e with nothing hidden: grid intensity (table, figure or time series), PUE, and the
hardware's own manufacturing footprint amortised over its service life."""

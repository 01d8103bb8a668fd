"""Test suites powertrain ships for code that plugs into it (a results store of your own, say)."""

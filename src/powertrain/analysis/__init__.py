"""Turns stored runs into the study's answers: energy-to-target per setup, waste, intervals, fronts."""

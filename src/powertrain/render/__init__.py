"""Rendering an analysis: figures (matplotlib), one self-contained HTML file, summary.json and .csv."""

"""Reports: figures (matplotlib, PNG and SVG), one self-contained HTML file, summary.json and .csv."""

"""The fleet report: tables in the terminal, a self-contained HTML file with SVG plots."""

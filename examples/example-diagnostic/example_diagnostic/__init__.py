"""Example diagnostic: regional bias and RMSE of annual-mean surface air temperature.

Everything is computed from synthetic, seeded data, so a run needs no input files and always gives the
same numbers. Run it with ``python3 -m example_diagnostic``; it writes ``diagnostic.json``,
``output.json``, ``series.json``, plots, a data file and an HTML page into ``$DIAGNOSTIC_OUTPUT_DIR``.
"""

__version__ = "0.1.0"

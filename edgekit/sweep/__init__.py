"""``edgekit sweep``: build each (model x precision) a target allows, measure them alike, pick the least energy.

``run.py`` builds (through the build pipeline, cache and gate) and measures (through ``run_bench``);
``choose.py`` decides over the measurement records (pure functions); ``render.py`` makes the table.
"""

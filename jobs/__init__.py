"""Bundled jobs, one module per job; each defines ``run(ctx)``.

Installed as the package ``ops_sheets.jobs``. A module of the same name in the
config's ``jobs_dir`` replaces the bundled one.
"""

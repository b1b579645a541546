"""The service around the rules: one job run (runner), schedules (scheduler,
serve), the command line, status, ``init`` and the demo.
"""

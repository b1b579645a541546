"""The spreadsheet: tab and column specs, cell parsing into typed tables, the
platforms' export layouts (presets), and the workbook backends (``workbook/``).
A new backend goes in ``workbook/``; a new tab or column in ``tables.py``.
"""

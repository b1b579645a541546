"""``python -m ops_sheets``: the same as the ``ops-sheets`` command."""

from ops_sheets.service.cli import main

if __name__ == "__main__":
    raise SystemExit(main())

"""Pure rules: typed tables, settings and ``now`` in, plans out.

Nothing here opens a file, a socket or a sheet: a new job's logic goes here and is
tested with plain frames. The architecture test (tests/test_architecture.py) fails
if a module here imports a backend, the mailer, a store or the service.
"""

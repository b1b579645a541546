"""What the service remembers between runs: the ledger of messages (at most once
per key) and the job history and state.
"""

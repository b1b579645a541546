"""Small, runnable measurements: `python -m benchmarks.<name>`."""

"""`make bench`: run every benchmark in turn (each prints its own figures)."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

SLOW = {"soak_serve"}  # 30 minutes: run it on its own


def main() -> int:
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    for name in names:
        print(f"== {name}", flush=True)
        module = importlib.import_module(f"benchmarks.{name}")
        module.main()
    print(f"(not run: {', '.join(sorted(SLOW))}; run them with python -m benchmarks.<name>)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

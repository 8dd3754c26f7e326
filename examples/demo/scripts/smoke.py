"""End-to-end smoke check: exercise the library the way a caller would."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from calc import add, mean  # noqa: E402

checks = [("add", add(40, 2) == 42), ("mean", mean([2, 4]) == 3)]
for name, ok in checks:
    print(f"smoke {name}: {'ok' if ok else 'FAILED'}")
sys.exit(0 if all(ok for _, ok in checks) else 1)

"""`make bench`: run every benchmark in bench/ one after another and print their figures.

Each benchmark measures its own baseline in the same run and prints the ratio, so the numbers
mean the same on a fast or a slow machine. Pass `--quick` for small sizes (a smoke run).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
QUICK = {
    "bench_audit.py": ["--entries", "50000"],
    "bench_ingest.py": ["--lines", "100000"],
    "bench_export.py": ["--records", "10000"],
    "bench_logpage.py": ["--records", "20000"],
    "bench_queue.py": ["--requests", "10000"],
    "bench_relink.py": ["--lines", "100000"],
    "bench_forget.py": ["--records", "10000", "--store", "100000", "--big", "1000000"],
    "bench_queue_page.py": ["--requests", "10000"],
    "bench_serve.py": ["--seconds", "2", "--lines", "100000"],
    "bench_erasure.py": ["--sizes", "1000,10000", "--store", "100000", "--big", "1000000"],
}


def main() -> int:
    quick = "--quick" in sys.argv[1:]
    failed = 0
    for script in sorted(HERE.glob("bench_*.py")):  # serveload.py and scratch.py are their helpers
        args = QUICK.get(script.name, []) if quick else []
        print(f"\n=== {script.name} {' '.join(args)}".rstrip(), flush=True)
        done = subprocess.run([sys.executable, str(script), *args], cwd=HERE.parent, env=os.environ)
        failed += done.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

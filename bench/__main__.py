"""`python -m bench engine`: benchmarks that print figures and ratios (never timed test assertions)."""

from __future__ import annotations

import sys


def main() -> None:
    benchmarks = {"engine": "bench.engine", "messaging": "bench.messaging", "fault_injection": "bench.fault_injection",
                  "report": "bench.report", "audit": "bench.audit", "expressions": "bench.expressions",
                  "tasks": "bench.tasks", "http": "bench.http", "scale": "bench.scale", "history": "bench.history"}
    if len(sys.argv) < 2 or sys.argv[1] not in benchmarks:
        print(f"usage: python -m bench {{{'|'.join(benchmarks)}}} [--cases N]", file=sys.stderr)
        sys.exit(2)
    module = __import__(benchmarks[sys.argv[1]], fromlist=["main"])
    module.main(sys.argv[2:])


if __name__ == "__main__":  # not when a benchmark's spawned child process imports this module
    main()

"""One result line per figure, shared by every benchmark, so that `make bench` prints one table.

A benchmark calls `result(...)` for each figure it measured; the line it prints starts with `BENCH ` and holds
JSON. `python bench/report.py LOG...` reads those lines back and prints the table: figure, goal, measured,
ratio to the physical limit where one applies, and met / missed.
"""

from __future__ import annotations

import json
import sys

PREFIX = "BENCH "


def result(
    figure: str,
    measured: str,
    *,
    goal: str = "measured only",
    ratio: float | None = None,
    met: bool | None = None,
) -> None:
    """Print one figure. `met` is None for figures without a goal."""
    line = {"figure": figure, "goal": goal, "measured": measured, "ratio": ratio, "met": met}
    print(PREFIX + json.dumps(line), flush=True)


def _rows(paths: list[str]) -> list[dict]:
    rows = []
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            rows += [json.loads(line[len(PREFIX) :]) for line in handle if line.startswith(PREFIX)]
    return rows


def table(rows: list[dict]) -> str:
    header = ("figure", "goal", "measured", "ratio", "verdict")
    body = [
        (
            r["figure"],
            r["goal"],
            r["measured"],
            "" if r["ratio"] is None else f"{r['ratio']:.2f}",
            {True: "met", False: "MISSED", None: "-"}[r["met"]],
        )
        for r in rows
    ]
    widths = [max(len(str(row[i])) for row in (header, *body)) for i in range(len(header))]
    lines = [
        " | ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)) for row in (header, *body)
    ]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(lines)


def main(paths: list[str]) -> int:
    rows = _rows(paths)
    print(table(rows))
    return 1 if any(r["met"] is False for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

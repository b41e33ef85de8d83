"""An analyst process for test_readers: queries the published snapshot in a loop and writes
one JSON line per query round (a fingerprint of every mart view, or the error) until the
stop file appears. ``hold``: one connection kept open; ``reopen``: connect per round."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import duckdb

VIEWS = ("interactions", "interaction_participants", "overlap_events", "overlap_weekly",
         "collaboration_weekly", "data_quality", "runs")


def fingerprint(con: duckdb.DuckDBPyConnection) -> list[list[object]]:
    out: list[list[object]] = []
    for view in VIEWS:
        n, h = con.execute(f"select count(*), coalesce(sum(hash(t)), 0) from {view} t").fetchone()  # type: ignore[misc]  # noqa: S608
        out.append([view, n, str(h)])
    return out


def main(snapshot: str, mode: str, stop: str, log: str, read_only: bool) -> None:
    con = duckdb.connect(snapshot, read_only=read_only) if mode == "hold" else None
    with open(log, "a", encoding="utf-8") as fh:
        while not Path(stop).exists():
            try:
                if con is None:
                    c = duckdb.connect(snapshot, read_only=True)
                    try:
                        fp = fingerprint(c)
                    finally:
                        c.close()
                else:
                    fp = fingerprint(con)
                fh.write(json.dumps({"fp": fp}) + "\n")
            except Exception as exc:  # noqa: BLE001 - the test asserts there are none
                fh.write(json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n")
            fh.flush()
            time.sleep(0.01)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5] == "ro")

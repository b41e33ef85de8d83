"""``python -m overlap.sources_cli``: the source registry for shell scripts.

A module of its own so that ``overlap.sources`` (imported by ``overlap.config``) never imports
the config back (the import graph stays acyclic, tests/unit/test_import_graph.py).
"""

from __future__ import annotations

import json
import sys

from overlap.config import load_config
from overlap.errors import InputError
from overlap.sources import groups_for, pools


def main(argv: list[str] | None = None) -> int:
    """``python -m overlap.sources_cli pools`` prints the pools as JSON (for ``airflow pools
    import``); ``python -m overlap.sources_cli groups CONFIG`` prints the extract groups that
    config's sources need (a value for $OVERLAP_EXTRACT_GROUPS)."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["pools"]:
        print(json.dumps(pools(), indent=1))
        return 0
    if len(args) == 2 and args[0] == "groups":
        try:
            config = load_config(args[1])
        except InputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(",".join(groups_for(s.kind for s in config.sources)))
        return 0
    print("usage: python -m overlap.sources_cli pools | groups CONFIG", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

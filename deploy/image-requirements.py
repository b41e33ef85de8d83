"""Split uv.lock's pins into what the Airflow image keeps and what Overlap adds (Dockerfile).

Usage: image-requirements.py LOCKED INSTALLED [IMAGE_CONSTRAINTS ...] --constraints-out FILE

LOCKED is `uv export` of uv.lock, INSTALLED is `pip freeze --all` in the image, IMAGE_CONSTRAINTS
the constraints file(s) the image was built with (a missing file is skipped). Writes to FILE the
image's pins as pip constraints (installed versions first, then the build constraints for
packages not installed) and prints the locked requirements of every package the image neither
has nor constrains. Installing Overlap with those requirements under those constraints leaves
every package of the image at its version.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*==\s*([^\s;#]+)")


def normalise(name: str) -> str:
    """The PEP 503 form of a distribution name (`Foo_Bar` and `foo-bar` are one package)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(text: str) -> dict[str, str]:
    """`name==version` lines as {normalised name: the line}; comments, options, URLs skipped."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        match = _NAME.match(line)
        if match:
            found.setdefault(normalise(match.group(1)), line.strip())
    return found


def split(locked: str, installed: str, constraints: list[str]) -> tuple[list[str], list[str]]:
    """(requirements Overlap adds, the image's constraints), each in file order."""
    image = pins(installed)
    for text in constraints:
        for name, line in pins(text).items():
            image.setdefault(name, line)
    added = [line for name, line in pins(locked).items() if name not in image]
    return added, [_plain(line) for line in image.values()]


def _plain(line: str) -> str:
    """A constraint line without extras or markers (pip constraints take neither)."""
    match = _NAME.match(line)
    assert match is not None
    return f"{match.group(1)}=={match.group(3)}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("locked", type=Path)
    parser.add_argument("installed", type=Path)
    parser.add_argument("image_constraints", type=Path, nargs="*")
    parser.add_argument("--constraints-out", type=Path, required=True)
    args = parser.parse_args(argv)
    extra = [p.read_text(encoding="utf-8") for p in args.image_constraints if p.is_file()]
    added, image = split(args.locked.read_text(encoding="utf-8"),
                         args.installed.read_text(encoding="utf-8"), extra)
    args.constraints_out.write_text("\n".join(image) + "\n", encoding="utf-8")
    sys.stdout.write("".join(f"{line}\n" for line in added))
    print(f"image-requirements: {len(image)} image pins kept, {len(added)} locked packages added",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

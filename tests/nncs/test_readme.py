"""The README's closed-loop key table lists every key the TOML parser accepts."""

import re

from nnreach.nncs.config import KEYS

from ..conftest import REPO

PREFIXES = {"file": [""], "plant": ["plant."], "controller": ["controller."], "spec": ["spec."],
            "window": ["spec.safe.", "spec.avoid."], "goal": ["spec.goal."], "options": ["options."],
            "plot": ["plot."]}
"""Where the keys of each KEYS table sit in the TOML file."""


def test_readme_key_table_lists_every_key():
    section = REPO.joinpath("README.md").read_text().split("## Closed loops", 1)[1].split("\n## ", 1)[0]
    listed = {name for row in section.splitlines() if row.startswith("| `")
              for name in re.findall(r"`([^`]+)`", row.split("|")[1])}
    assert PREFIXES.keys() == KEYS.keys()
    tables = {name.split(".")[0] for name in listed}   # a table is documented by its keys
    missing = [p + k for kind, keys in KEYS.items() for p in PREFIXES[kind] for k in keys
               if p + k not in listed | tables]
    assert not missing

"""The data the sandbox ships says where it comes from and is what its sha256 says."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "harness" / "sandbox" / "data"


def test_every_data_file_is_listed_with_its_source_and_sha256() -> None:
    rows = re.findall(r"^\| `([^`]+)` \| [^|]+ \| ([^|]+) \| `([0-9a-f]{64})` \|$",
                      (DATA / "README.md").read_text("utf-8"), re.M)
    listed = {name: digest for name, _, digest in rows}
    assert set(listed) == {path.name for path in DATA.glob("*.json")}
    for name, source, digest in rows:
        assert source.strip(), name
        assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == digest, f"{name} changed; update its sha256"

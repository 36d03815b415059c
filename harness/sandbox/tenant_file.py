"""The sandbox's own tenant file, for a sandbox at another address.

``harness/sandbox/tenant/sandbox.toml`` names the sandbox at ``http://127.0.0.1:8765`` (as
``epic-harness sandbox`` serves it): its ``base_url`` and the URLs of its web services under
``[test_data.web_services]``. An embedded sandbox listens on a free port instead; the run then
uses a copy of the file in which every URL under that base names the sandbox's own address, and
the key files are named by absolute paths, so that the copy works from any folder.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path


def shipped() -> Path:
    """The embedded sandbox's own tenant file."""
    return Path(str(resources.files("harness.sandbox").joinpath("tenant/sandbox.toml")))


def at_address(base_url: str, directory: Path, source: Path | None = None) -> Path:
    """A copy of the sandbox tenant file (``source``, default the shipped one) whose URLs under its
    ``base_url`` name ``base_url`` instead, written into ``directory``; the file itself when the
    address is already its own."""
    source = source or shipped()
    text = source.read_text("utf-8")
    own = str(tomllib.loads(text)["base_url"]).rstrip("/")
    wanted = base_url.rstrip("/")
    if own == wanted:
        return source
    folder = source.resolve().parent
    copied = text.replace(f'"{own}', f'"{wanted}')
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip() in ("private_key", "jwks"):
            relative = value.strip().strip('"')
            copied = copied.replace(line, f'{name.rstrip()} = "{(folder / relative).as_posix()}"')
    target = directory / source.name
    target.write_text(copied, "utf-8")
    return target

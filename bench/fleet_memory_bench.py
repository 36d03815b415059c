"""Fleet memory against hostile tenants: the peak RSS of a fleet run, with and without them.

    python bench/fleet_memory_bench.py [--bomb-gb 2] [--huge-mb 100] [--normal 20] [--max-gb 6]

A child process serves, on loopback, ``--normal`` well-behaved tenants and three hostile ones:

- ``gzip-bomb``: ``/metadata`` is about 2 MB of gzip (``Content-Encoding: gzip``) that decodes
  to ``--bomb-gb`` GB of zeros;
- ``gzip-gzip``: ``Content-Encoding: gzip, gzip``, a few KB that decode twice to the same;
- ``huge``: ``--huge-mb`` MB of plain JSON.

Each fleet run is a child process of its own (``--allow-loopback``, as for the sandbox fleet)
that prints its own peak RSS (``ru_maxrss``) when it ends; its address space is capped at
``--max-gb`` GB so that a run without bounds fails instead of taking the machine. The line
printed holds the peak RSS of a run of the normal tenants only and of a run with the hostile
ones too, and how each hostile tenant was classified.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import subprocess
import sys
import tempfile
import textwrap
import zlib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SMART = json.dumps({"token_endpoint": "https://example.org/token", "grant_types_supported": ["client_credentials"],
                    "token_endpoint_auth_methods_supported": ["private_key_jwt"],
                    "capabilities": ["client-confidential-asymmetric"]}).encode()
STATEMENT = json.dumps({"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1", "kind": "instance",
                        "software": {"name": "Epic", "version": "February 2026"},
                        "rest": [{"mode": "server", "resource": [{"type": "Patient", "interaction": [
                            {"code": "read"}, {"code": "search-type"}]}]}]}).encode()
HOSTILE = ("gzip-bomb", "gzip-gzip", "huge")


def _bomb(gigabytes: float) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    zeros = bytes(1 << 20)
    parts = [packer.compress(zeros) for _ in range(int(gigabytes * 1024))]
    parts.append(packer.flush())
    return b"".join(parts)


def _gzip(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    return packer.compress(data) + packer.flush()


def _serve(ready: Any, stop: Any, bomb_gb: float, huge_mb: int) -> None:
    bomb = _bomb(bomb_gb)
    double = _gzip(bomb)
    huge_head, huge_fill = b'{"resourceType": "CapabilityStatement", "x": "', b"x" * (1 << 20)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            while (await reader.readline()) not in (b"\r\n", b""):
                pass
            path = line.split(b" ")[1].decode() if line.count(b" ") >= 2 else "/"
            tenant = path.split("/")[2] if path.startswith("/t/") else ""
            headers = {"content-type": "application/fhir+json", "connection": "close"}
            if path.endswith("/smart-configuration"):
                body: bytes | None = SMART
            elif tenant == "gzip-bomb":
                body, headers["content-encoding"] = bomb, "gzip"
            elif tenant == "gzip-gzip":
                body, headers["content-encoding"] = double, "gzip, gzip"
            elif tenant == "huge":
                body = None
            else:
                body = STATEMENT
            length = len(body) if body is not None else len(huge_head) + huge_mb * len(huge_fill) + 2
            head = "HTTP/1.1 200 OK\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            writer.write(f"{head}content-length: {length}\r\n\r\n".encode())
            if body is not None:
                writer.write(body)
            else:
                writer.write(huge_head)
                for _ in range(huge_mb):
                    writer.write(huge_fill)
                    await writer.drain()
                writer.write(b'"}')
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        ready.put(server.sockets[0].getsockname()[1])
        while not stop.is_set():
            await asyncio.sleep(0.1)
        server.close()

    asyncio.run(main())


RUN = textwrap.dedent("""
    import json, resource, sys
    limit = int(float(sys.argv[2]) * 1024 ** 3)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    sys.path.insert(0, sys.argv[3])
    from harness.catalog import load_named_set
    from harness.fleet.directory import distinct_targets, load_directory
    from harness.fleet.fetch import FetchOptions
    from harness.fleet.run import run_fleet
    directory = load_directory(sys.argv[1])
    options = FetchOptions(per_host_rps=None, connect_timeout=5, read_timeout=20, retries=0, allow_loopback=True)
    try:
        rows = run_fleet(directory, distinct_targets(directory), load_named_set("careforce-phoenix"),
                         options).tenant_dicts()
        outcomes = {t["name"]: t["metadata"]["outcome"] for t in rows}
    except MemoryError:
        outcomes = {"error": "MemoryError"}
    print(json.dumps({"rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "outcomes": outcomes}))
""")


def _run(listing: Path, max_gb: float) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", RUN, str(listing), str(max_gb), str(ROOT)], capture_output=True,
                          text=True)
    if done.returncode != 0 or not done.stdout.strip():
        tail = done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        return {"rss_mb": None, "outcomes": {"error": tail[0][:200]}}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bomb-gb", type=float, default=2.0, help="what the gzip bombs decode to, in GB (default 2)")
    parser.add_argument("--huge-mb", type=int, default=100, help="size of the plain huge body in MB (default 100)")
    parser.add_argument("--normal", type=int, default=20, help="well-behaved tenants (default 20)")
    parser.add_argument("--max-gb", type=float, default=6.0, help="address-space cap of each run in GB (default 6)")
    args = parser.parse_args(argv)

    context = multiprocessing.get_context("spawn")
    ready, stop = context.Queue(), context.Event()
    server = context.Process(target=_serve, args=(ready, stop, args.bomb_gb, args.huge_mb), daemon=True)
    server.start()
    try:
        port = ready.get(timeout=300)
        origin = f"http://127.0.0.1:{port}"
        normal = [f"{origin}/t/normal-{i}/api/FHIR/R4 normal-{i}" for i in range(args.normal)]
        hostile = [f"{origin}/t/{name}/api/FHIR/R4 {name}" for name in HOSTILE]
        with tempfile.TemporaryDirectory(prefix="fleet-memory-") as tmp:
            calm, mixed = Path(tmp) / "normal.txt", Path(tmp) / "hostile.txt"
            calm.write_text("\n".join(normal) + "\n", "utf-8")
            mixed.write_text("\n".join(normal + hostile) + "\n", "utf-8")
            base = _run(calm, args.max_gb)
            worst = _run(mixed, args.max_gb)
    finally:
        stop.set()
        server.join(10)
        if server.is_alive():
            server.terminate()

    def mb(run: dict[str, Any]) -> str:
        return "failed" if run["rss_mb"] is None else f"{run['rss_mb']:.0f} MB"

    seen = ", ".join(f"{k} {v}" for k, v in worst["outcomes"].items() if k in HOSTILE or k == "error")
    print(f"fleet memory bench: peak RSS {mb(base)} for {args.normal} normal tenants, {mb(worst)} with the hostile "
          f"ones too (gzip bombs of {args.bomb_gb:g} GB, a {args.huge_mb} MB body; address space capped at "
          f"{args.max_gb:g} GB): {seen}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

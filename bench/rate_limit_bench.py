"""A rate-limited run: with a limit of R requests per minute, the run's wall time against the ideal N/R.

    python bench/rate_limit_bench.py [--per-minute 600]

Prints one line: requests, limit, ideal seconds, measured seconds, ratio, 429s seen (goal: within 10%, none).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import TENANT, run_harness
from harness.sandbox import EmbeddedSandbox


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-minute", type=int, default=900)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, EmbeddedSandbox() as sandbox:
        work = Path(tmp)
        text = TENANT.read_text().replace('rate_limit = "500/s"', f'rate_limit = "{args.per_minute}/m"')
        text = text.replace('"keys/', f'"{TENANT.parent}/keys/').replace(
            '"sandbox-app.jwks.json"', f'"{TENANT.parent}/sandbox-app.jwks.json"')
        tenant = work / "limited.toml"
        tenant.write_text(text)
        seconds, summary = run_harness("--tenant", str(tenant), "--base-url", sandbox.base_url,
                                       "--", "-m", "exercise", cwd=work)
    stats = summary["stats"]
    requests = stats["requests_sent"]
    ideal = (requests - 1) / (args.per_minute / 60)
    limited = stats["rate_limit_wait_s"]
    window = stats["requests_window_s"]
    print(f"rate-limited run: {requests} requests at {args.per_minute}/min: ideal {ideal:.1f} s, first to last "
          f"request {window:.1f} s (whole process {seconds:.1f} s; {limited:.1f} s waiting for the limit), "
          f"ratio {window / ideal:.2f}, 429s seen {stats.get('throttled_429', 0)}")


if __name__ == "__main__":
    main()

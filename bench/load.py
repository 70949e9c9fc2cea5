"""Load: 200 simulated ODK Collect clients sending encrypted submissions in bursts for 60 s.

The same machinery as bench/ingest.py with the load-test settings; it stops by itself, then
checks that every acknowledged submission is stored and decrypted.

    .venv/bin/python bench/load.py [--database sqlite|postgresql]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import ingest

if __name__ == "__main__":
    defaults = ["--clients", "200", "--seconds", "60", "--burst", "5", "--pause", "2"]
    defaults += ["--per-client-rate", "4"]  # bursts of 5 then 2 s pause: under 2.5/s each
    sys.argv = [sys.argv[0], *defaults, *sys.argv[1:]]
    ingest.main()

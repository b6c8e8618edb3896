"""wormsign from Python: ingest the bundled demo outbreak into a case, hunt it, read the findings.

    python docs/examples/hunt_demo.py [CASE_DIRECTORY]

(tests/test_library.py runs it.)
"""

from __future__ import annotations

import sys
import tempfile
from collections import Counter

import wormsign
from wormsign import demo

case_dir = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="wormsign-example-")

with wormsign.open_case(case_dir) as case:
    report = wormsign.ingest(case, [demo.logs()])
    print(f"stored {report.stats.stored:,} events, rejected {report.stats.rejected:,}")
    result = wormsign.hunt(case)  # as `wormsign hunt`: analytics and the in-house Sigma rules

for incident in result.incidents:
    if incident["type"] == "outbreak":
        infected = [h for h in incident["hosts"] if h["state"] == "infected"]
        print(f"outbreak: patient zero {incident['patient_zero']}, {len(infected)} hosts infected")
        print("isolate first:", ", ".join(c["host"] for c in incident["containment"][:5]))

alerts = result.alerts_table()  # Arrow; alerts.to_pandas() with pandas installed
print("alerts by severity:", dict(sorted(Counter(alerts.column("severity").to_pylist()).items())))
print("incidents:", result.incidents_table().num_rows)

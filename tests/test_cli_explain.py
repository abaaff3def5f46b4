"""winback explain: one customer's story, consistent with the call list."""

from __future__ import annotations

import json

import pandas as pd

from tests.conftest import SAMPLE, SAMPLE_AS_OF
from winback.cli import app


def test_explain_listed_customer_matches_call_list(runner, tmp_path):
    out = tmp_path / "c.csv"
    scan = runner.invoke(app, ["scan", str(SAMPLE), "--as-of", SAMPLE_AS_OF, "--out", str(out), "--quiet",
                               "--csv-dialect", "comma"])
    assert scan.exit_code == 0, scan.output
    first = pd.read_csv(out, dtype={"customer_id": str}, encoding="utf-8-sig").iloc[0]
    result = runner.invoke(app, ["explain", str(SAMPLE), first["customer_id"], "--as-of", SAMPLE_AS_OF, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["customer_id"] == first["customer_id"]
    assert data["rank"] == 1
    assert data["segment"] == first["segment"]
    assert data["reason"] == first["reason"]
    assert data["numbers"]["purchase occasions"] == first["orders"]
    assert data["numbers"]["days since last order"] == first["days_since_last_order"]
    purchases = [t for t in data["timeline"] if t["kind"] == "purchase"]
    assert len({t["order_date"] for t in purchases}) == first["orders"]


def test_explain_text_and_unknown_customer(runner):
    text = runner.invoke(app, ["explain", str(SAMPLE), "00097", "--as-of", SAMPLE_AS_OF])
    assert text.exit_code == 0, text.output
    assert text.stdout.startswith("Customer 00097 as of 2026-11-23:")
    assert "Order lines" in text.stdout
    missing = runner.invoke(app, ["explain", str(SAMPLE), "97", "--as-of", SAMPLE_AS_OF])
    assert missing.exit_code == 4
    assert missing.stderr == ("Error: customer 97 is not in the file. Ids are compared exactly as written (00042 "
                              "is not 42); check the id in the call list or with 'winback inspect'.\n")

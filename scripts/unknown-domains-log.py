#!/usr/bin/env python3
"""Writes a JSON-lines DNS log naming N distinct domains (default 1,000,000) that no maltrail indicator matches:
every domain-shaped entry of the MISP warning lists in ../shared/data, then the same with www., mail., cdn. ...
prefixes until N. The worst case for `vigil hunt --score-unknown` (every name new, every name scored).

Usage: scripts/unknown-domains-log.py OUT.jsonl [N]   (from the repository root)
"""
import glob
import json
import re
import sys

out_path = sys.argv[1]
want = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
names = set()
for p in glob.glob("../shared/data/misp-warninglists/lists/*/list.json"):
    try:
        with open(p, encoding="utf-8") as f:
            d = json.load(f)
    except (OSError, ValueError):
        continue
    for x in d.get("list", []):
        if isinstance(x, str) and re.fullmatch(r"[a-z0-9.-]+\.[a-z]{2,}", x.strip(".")):
            names.add(x.strip("."))
names = sorted(names)
written = 0
with open(out_path, "w", encoding="utf-8") as out:
    for prefix in ["", "www.", "mail.", "cdn.", "api.", "img.", "static.", "m.", "app.", "login.", "portal.", "dev."]:
        for n in names:
            if written >= want:
                break
            out.write(json.dumps({"ts": "2026-11-30T00:00:00Z", "query": prefix + n}) + "\n")
            written += 1
print(f"{written} names ({len(names)} distinct warning-list domains) -> {out_path}", file=sys.stderr)

#!/usr/bin/env python3
"""Writes a large MISP event with broken attributes, and the same event valid, for BENCHMARKS.md (session 46):
`python3 scripts/misp_broken_event.py OUT_DIR [ATTRIBUTES] [EVERY]` writes OUT_DIR/big-broken.json, whose every
EVERY-th attribute (from EVERY/2) holds an unescaped quote, and OUT_DIR/big-clean.json with those quotes escaped."""
import os
import sys

out = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 200_000
every = int(sys.argv[3]) if len(sys.argv) > 3 else 2_000


def doc(quote):
    attrs = []
    for i in range(n):
        if i % every == every // 2:
            attrs.append('{"type":"comment","value":"item %s%d%s broken","to_ids":false}' % (quote, i, quote))
        else:
            attrs.append('{"type":"domain","value":"d%d.example","to_ids":true,"comment":"generated"}' % i)
    return ('{"Event":{"uuid":"5c1a0a7e-0000-4000-8000-0000000000ff","info":"big","date":"2024-01-01",'
            '"Orgc":{"name":"Org"},"Attribute":[' + ",".join(attrs) + "]}}")


os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "big-broken.json"), "w") as f:
    f.write(doc('"'))
with open(os.path.join(out, "big-clean.json"), "w") as f:
    f.write(doc('\\"'))

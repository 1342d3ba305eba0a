#!/usr/bin/env python3
"""Compares two `vigil export csv` files of the same values loaded in two orders (scripts/order-of-loading.sh):
the values whose actors differ, and those whose families in GALAXIES_FIRST are not all among those of LISTS_FIRST
(the lists-first store also names the lists' own family objects, which the galaxies-first store never made), with
the commonest differences.

usage: scripts/order_compare.py GALAXIES_FIRST/all.csv LISTS_FIRST/all.csv [N]"""
import csv
import sys
from collections import Counter


def load(path):
    out = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            split = lambda s: frozenset(x for x in s.split(";") if x)
            out[(row["type"], row["value"])] = (split(row["malware"]), split(row["actors"]))
    return out


def main():
    g, l = load(sys.argv[1]), load(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    empty = (frozenset(), frozenset())
    actors = [k for k in g if g[k][1] != l.get(k, empty)[1]]
    missing = [k for k in g if not g[k][0] <= l.get(k, empty)[0]]
    print(f"values: {len(g)} / {len(l)}")
    print(f"values whose actors differ: {len(actors)}")
    print(f"values whose galaxies-first families are missing lists first: {len(missing)}")
    common = Counter((tuple(sorted(g[k][0])), tuple(sorted(l.get(k, empty)[0]))) for k in missing)
    for (a, b), c in common.most_common(n):
        print(f"  {c:>7}  {';'.join(a)}  ->  {';'.join(b)}")


if __name__ == "__main__":
    main()

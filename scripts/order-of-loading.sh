#!/bin/bash
# The same intelligence loaded in two orders must give the same graph. Loads the MISP galaxies (malpedia,
# ransomware, stealer, rat, botnet, backdoor, banker, tool, threat-actor) and ATT&CK, and the whole maltrail tarball, into a new
# store, galaxies first or lists first, and writes every indicator value with its families and actors
# (`vigil export csv --tlp-max red --min-score 0`) to OUT/all.csv, the ingest report of the lists to OUT/ingest.json
# and the object counts before and after them to OUT/stats{0,1}.json. Compare two runs with
# scripts/order_compare.py. About a minute per run.
#
# usage: scripts/order-of-loading.sh VIGIL_BINARY SHARED_DATA OUT [galaxies-first|lists-first]
set -euo pipefail
BIN=$1 D=$2 OUT=$3 ORDER=${4:-galaxies-first}
rm -rf "$OUT"; mkdir -p "$OUT"
V=("$BIN" --data "$OUT/db")
"${V[@]}" init >/dev/null
galaxies() {
    for g in malpedia ransomware stealer rat botnet backdoor banker tool threat-actor; do
        "${V[@]}" ingest "$D/misp-galaxy/clusters/$g.json" --json >/dev/null || true
    done
    "${V[@]}" ingest "$D/mitre-attack/enterprise-attack.json.gz" --json >/dev/null || true
}
lists() {
    "${V[@]}" stats --json >"$OUT/stats0.json"
    # exit 1: a few maltrail lines are regular expressions, not indicators (reported, the rest stored)
    "${V[@]}" ingest "$D/maltrail/maltrail-static-malware.shared.tar.gz" --json >"$OUT/ingest.json" || true
    "${V[@]}" stats --json >"$OUT/stats1.json"
}
if [ "$ORDER" = lists-first ]; then lists; galaxies; else galaxies; lists; fi
"${V[@]}" export csv --tlp-max red --min-score 0 --out "$OUT/all.csv" >/dev/null

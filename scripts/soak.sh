#!/usr/bin/env bash
# Memory of `vigil serve` under sustained TAXII load: wrk at 64 connections against pages of 100 objects of the
# ATT&CK bundle, RSS sampled every 5 s. Prints the samples and one summary line (first, last and peak RSS after
# warm-up, requests/s). Not part of the test suite (it runs for minutes); figures go to BENCHMARKS.md.
# usage: scripts/soak.sh [SECONDS=120]   (needs wrk and ../shared/data)
set -euo pipefail
SECS=${1:-120}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VIGIL=${VIGIL:-$ROOT/target/release/vigil}
[ -x "$VIGIL" ] || (cd "$ROOT" && cargo build --release -q -p vigil-cli)
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }
ATTACK="$ROOT/../shared/data/mitre-attack/enterprise-attack.json.gz"
[ -f "$ATTACK" ] || ATTACK=$(find "$ROOT/../shared/data" -name 'enterprise-attack*.json' | head -1)
SRV=""; D=$(mktemp -d); trap 'kill $SRV 2>/dev/null || true; rm -rf "$D"' EXIT
"$VIGIL" --data "$D" ingest "$ATTACK" >/dev/null
TOK=$("$VIGIL" --data "$D" tokens create --member 1 --role analyst --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$VIGIL" --data "$D" serve --listen "127.0.0.1:$PORT" --no-feeds --no-delivery 2>"$D/serve.log" & SRV=$!
for _ in $(seq 1 50); do curl -sf -o /dev/null -H "Authorization: Bearer $TOK" "http://127.0.0.1:$PORT/taxii2/" -H 'Accept: application/taxii+json;version=2.1' && break; sleep 0.2; done
# Pages at many offsets, so the page cache (4096 entries) fills and turns over instead of serving one hot page.
python3 - > "$D/pages.lua" <<'EOF'
import base64
cur = [base64.urlsafe_b64encode(f"v1.{(i * 7919) % 24000}".encode()).decode().rstrip("=") for i in range(2000)]
print("cursors = {" + ",".join(f'"{c}"' for c in cur) + "}")
print("counter = 0")
print("request = function()")
print("  counter = counter + 1")
print('  return wrk.format("GET", "/taxii2/vigil/collections/shared-clear/objects/?limit=100&next=" .. cursors[(counter % #cursors) + 1])')
print("end")
EOF
rss() { awk '/VmRSS/ {print $2}' "/proc/$SRV/status"; }
echo "t_s rss_kib"
( for t in $(seq 0 5 "$SECS"); do echo "$t $(rss)"; sleep 5; done ) > "$D/rss.txt" &
SAMPLER=$!
wrk -t2 -c64 -d"${SECS}s" --latency -s "$D/pages.lua" \
  -H "Authorization: Bearer $TOK" -H 'Accept: application/taxii+json;version=2.1' \
  "http://127.0.0.1:$PORT/" > "$D/wrk.txt"
wait $SAMPLER || true
cat "$D/rss.txt"
grep -E 'Requests/sec|99%|Non-2xx|Socket errors' "$D/wrk.txt" || true
python3 - "$D/rss.txt" "$D/wrk.txt" <<'EOF'
import re, sys
rows = [l.split() for l in open(sys.argv[1]) if len(l.split()) == 2 and l.split()[1].isdigit()]
rss = [int(r[1]) for r in rows]
warm = rss[len(rss) // 4:] or rss
rps = re.search(r"Requests/sec:\s+([\d.]+)", open(sys.argv[2]).read())
print(f"soak: {len(rss)} samples; RSS after warm-up first {warm[0]/1024:.0f} MiB, last {warm[-1]/1024:.0f} MiB, "
      f"peak {max(warm)/1024:.0f} MiB; {float(rps.group(1)) if rps else 0:,.0f} req/s")
EOF

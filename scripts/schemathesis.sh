#!/usr/bin/env bash
# Runs schemathesis against Vigil's OpenAPI document on a live server with a small store, as the operator's
# admin (so that every endpoint is reachable). Fails on server errors and on responses that break the schema.
# usage: scripts/schemathesis.sh [MAX_SECONDS=120]
# Needs schemathesis in $VENV (default .venv-peers, else /work/main/.venv-peers, else /work/.venv-schemathesis).
set -euo pipefail
MAX=${1:-120}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ST=""
for v in "${VENV:-}" "$ROOT/.venv-peers" /work/main/.venv-peers /work/.venv-schemathesis; do
  if [ -n "$v" ] && [ -x "$v/bin/schemathesis" ]; then ST="$v/bin/schemathesis"; break; fi
done
if [ -z "$ST" ]; then echo "SKIPPED: schemathesis not installed (pip install schemathesis into a venv, set VENV)" >&2; exit 0; fi
VIGIL=${VIGIL:-$ROOT/target/release/vigil}
[ -x "$VIGIL" ] || (cd "$ROOT" && cargo build --release -q -p vigil-cli)
SRV=""; D=$(mktemp -d); trap 'kill $SRV 2>/dev/null || true; rm -rf "$D"' EXIT
"$VIGIL" --data "$D" init >/dev/null
"$VIGIL" --data "$D" ingest "$ROOT/crates/cli/demo/sample-bundle.json" >/dev/null || true
# Notices, an inventory and their versions, so that the member endpoints answer with real documents.
"$VIGIL" --data "$D" ingest "$ROOT"/crates/vuln/tests/fixtures/{osv-multi-pairs,cve5-demo,csaf-demo}.json >/dev/null || true
"$VIGIL" --data "$D" inventory import --member 1 "$ROOT/crates/vuln/tests/fixtures/inventory.csv" >/dev/null 2>&1 || true
TOK=$("$VIGIL" --data "$D" tokens create --member 1 --role admin --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$VIGIL" --data "$D" serve --listen "127.0.0.1:$PORT" 2>"$D/serve.log" & SRV=$!
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$PORT/api/v1/openapi.json" >/dev/null && break; sleep 0.2; done
"$ST" run "http://127.0.0.1:$PORT/api/v1/openapi.json" -H "Authorization: Bearer $TOK" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-time "$MAX" --suppress-health-check all

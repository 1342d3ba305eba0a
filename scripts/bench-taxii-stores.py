#!/usr/bin/env python3
"""TAXII 2.1 throughput of `vigil serve` on the embedded store and on PostgreSQL, same input, same run.

    python3 scripts/bench-taxii-stores.py BINARY [BINARY2 ...] [--stores sqlite,postgres] [--seconds 10]
            [--postgres "host=127.0.0.1 user=postgres dbname=test"]

For each binary and store: a new store with 100 TLP:CLEAR indicators, a member and its token, `vigil serve`
(no feeds, no delivery), then `wrk -t2` for SECONDS at 8 and at 64 connections on `GET .../objects/?limit=100&
match[type]=indicator` of the collection that holds them (the page the outside server check measures). Prints
one JSON line per binary and store: requests/s, p99 latency and whether any response was not 2xx. Give two
binaries (before and after a change) to compare them in one run. The PostgreSQL schema `vigil_taxiibench` is
dropped at the end. Needs wrk and psql.
"""
import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid

ACCEPT = "application/taxii+json;version=2.1"
SCHEMA = "vigil_taxiibench"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def bench(binary, store, pg, seconds):
    d = tempfile.mkdtemp(prefix="taxiibench-")
    env = dict(os.environ)
    env.pop("VIGIL_STORE", None)
    if store == "postgres":
        env["VIGIL_STORE"] = pg
        env["VIGIL_STORE_SCHEMA"] = SCHEMA
    base = [binary, "--data", d]

    def vigil(args):
        return subprocess.run(base + args, env=env, capture_output=True, text=True, check=True).stdout

    srv = None
    try:
        vigil(["init"])
        now = "2026-11-29T00:00:00.000Z"
        objs = [{"type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.uuid4()}", "created": now,
                 "modified": now, "valid_from": now, "pattern_type": "stix",
                 "pattern": f"[domain-name:value = 'bad{i}.example']"} for i in range(100)]
        bundle = os.path.join(d, "bundle.json")
        with open(bundle, "w") as f:
            json.dump({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objs}, f)
        vigil(["ingest", bundle, "--tlp", "clear", "--json"])
        m = json.loads(vigil(["members", "add", "--name", "CERT X", "--country", "DE", "--kind", "csirt", "--json"]))
        tok = json.loads(vigil(["tokens", "create", "--member", str(m["id"]), "--role", "member", "--json"]))["token"]
        port = free_port()
        srv = subprocess.Popen(base + ["serve", "--listen", f"127.0.0.1:{port}", "--no-feeds", "--no-delivery"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        headers = {"Authorization": f"Bearer {tok}", "Accept": ACCEPT}

        def get(path):
            req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
            with urllib.request.urlopen(req, timeout=10) as r:
                return json.loads(r.read())

        for _ in range(150):
            try:
                discovery = get("/taxii2/")
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        else:
            raise SystemExit(f"{binary} ({store}): the server did not answer")
        url = None
        for root in discovery["api_roots"]:
            path = "/" + root.split(f"127.0.0.1:{port}/", 1)[-1]
            for c in get(path + "collections/")["collections"]:
                page = f"{path}collections/{c['id']}/objects/?limit=100&match[type]=indicator"
                if get(page.replace("limit=100", "limit=1")).get("objects"):
                    url = f"http://127.0.0.1:{port}{page}"
                    break
            if url:
                break
        out = {"binary": binary, "store": store}
        for conns in (8, 64):
            r = subprocess.run(["wrk", "-t2", f"-c{conns}", f"-d{seconds}s", "--latency", "-H",
                                f"Authorization: Bearer {tok}", "-H", f"Accept: {ACCEPT}", url],
                               capture_output=True, text=True).stdout
            out[f"c{conns}"] = {"req_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", r).group(1)),
                                "p99": re.search(r"99%\s+(\S+)", r).group(1),
                                "errors": "Non-2xx" in r or "Socket errors" in r}
        return out
    finally:
        if srv:
            srv.terminate()
            srv.wait()
        if store == "postgres":
            subprocess.run(["psql", pg, "-qc", f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"], capture_output=True)
        shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("binaries", nargs="+")
    ap.add_argument("--stores", default="sqlite,postgres")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--postgres", default="host=127.0.0.1 user=postgres dbname=test")
    a = ap.parse_args()
    for store in a.stores.split(","):
        for b in a.binaries:
            print(json.dumps(bench(os.path.abspath(b), store, a.postgres, a.seconds)), flush=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""A sensor fetching its snapshot from `vigil serve`, next to curl fetching the same URL, same run.

    python3 scripts/bench-snapshot-fetch.py BINARY [--indicators 1000000] [--polls 10]

Builds a store of N TLP:GREEN indicators (a generated IOC list: a third each domains, IPv4 addresses and SHA-256
hashes), adds a member and its token, starts `vigil serve` (no feeds, no delivery) and measures, wall clock:

- `render`: the first request of the member's view (curl): the server selects, compiles and serialises;
- `curl`: the same URL again (the rendering cached): transfer to a file only;
- `vigil`: `vigil snapshot --from` of the same view (cached): transfer, then the whole file loaded and checked,
  fsync and rename; ratio vigil / curl is what checking costs over a bare download;
- `poll_304`: median of POLLS `vigil snapshot --from` runs with the ETag kept (304, nothing transferred), and the
  same with `curl -H If-None-Match`;
- `local`: `vigil snapshot --member ID --out` at the CSIRT (same selection, no HTTP);
- `*_peak_mb`: peak resident memory of one 304 poll (the held file checked by its checksum), of one that loads the
  held file (a side file without the checksum, as written before 2026-12-05) and of one whole fetch (GNU time).

Prints one JSON line. Needs curl.
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.error
import urllib.request


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def timed(cmd, **kw):
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"{cmd[:3]}... failed ({r.returncode}): {r.stderr[-2000:]}")
    return dt, r.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--indicators", type=int, default=1_000_000)
    ap.add_argument("--polls", type=int, default=10)
    a = ap.parse_args()
    binary = os.path.abspath(a.binary)
    d = tempfile.mkdtemp(prefix="snapfetch-")
    env = dict(os.environ)
    for k in ("VIGIL_STORE", "VIGIL_STORE_SCHEMA", "VIGIL_TOKEN_FILE", "VIGIL_CA"):
        env.pop(k, None)
    base = [binary, "--data", os.path.join(d, "csirt")]
    srv = None
    try:
        subprocess.run(base + ["init"], env=env, capture_output=True, check=True)
        n = a.indicators
        lst = os.path.join(d, "iocs.txt")
        with open(lst, "w") as f:
            for i in range(n):
                k = i % 3
                if k == 0:
                    f.write(f"host{i}.bad-{i % 997}.example\n")
                elif k == 1:
                    f.write(f"{10 + (i >> 24) % 200}.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}\n")
                else:
                    f.write(f"{i:064x}\n")
        t_ingest, _ = timed(base + ["ingest", lst, "--tlp", "green", "--json"], env=env)
        m = json.loads(subprocess.run(base + ["members", "add", "--name", "Ministry X", "--country", "DE", "--kind",
                                              "ministry", "--json"], env=env, capture_output=True, text=True,
                                      check=True).stdout)
        tok = json.loads(subprocess.run(base + ["tokens", "create", "--member", str(m["id"]), "--role", "member",
                                                "--json"], env=env, capture_output=True, text=True,
                                        check=True).stdout)["token"]
        tok_file = os.path.join(d, "token")
        with open(tok_file, "w") as f:
            f.write(tok + "\n")
        os.chmod(tok_file, 0o600)
        port = free_port()
        srv = subprocess.Popen(base + ["serve", "--listen", f"127.0.0.1:{port}", "--no-feeds", "--no-delivery"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        for _ in range(150):
            try:
                urllib.request.urlopen(f"{url}/taxii2/", timeout=2)
            except urllib.error.HTTPError:
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        snap_url = f"{url}/api/v1/exports/snapshot?min_score=20"
        auth = ["-H", f"Authorization: Bearer {tok}"]
        curl_out = os.path.join(d, "curl.vgs")
        t_render, _ = timed(["curl", "-sf", *auth, "-o", curl_out, snap_url])
        t_curl, _ = timed(["curl", "-sf", *auth, "-o", curl_out, snap_url])
        size = os.path.getsize(curl_out)
        out = os.path.join(d, "sensor", "intel.vgs")
        os.makedirs(os.path.dirname(out))
        fetch = [binary, "--data", os.path.join(d, "sensor", "data"), "snapshot", "--from", url, "--token-file",
                 tok_file, "--out", out, "--json"]
        t_vigil, o = timed(fetch, env=env)
        first = json.loads(o)
        assert first["updated"] and os.path.getsize(out) == size, (first, size)
        polls, curl_polls = [], []
        etag = first["etag"]
        for _ in range(a.polls):
            dt, o = timed(fetch, env=env)
            assert not json.loads(o)["updated"], o
            polls.append(dt)
            dt, o = timed(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", *auth, "-H",
                           f"If-None-Match: {etag}", snap_url])
            assert o == "304", o
            curl_polls.append(dt)
        # Peak memory of one poll (the held file checked) and of one whole fetch, where GNU time is installed.
        peak_poll = peak_loaded = peak_fetch = None
        if shutil.which("/usr/bin/time"):
            def peak_mb(cmd):
                r = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], env=env, capture_output=True, text=True,
                                   check=True)
                return round(int(r.stderr.strip().splitlines()[-1]) / 1024, 1)
            peak_poll = peak_mb(fetch)
            # A side file without the checksum (as Vigil wrote it before 2026-12-05): the poll loads the set.
            with open(out + ".etag") as f:
                first_line = f.readline()
            with open(out + ".etag", "w") as f:
                f.write(first_line)
            peak_loaded = peak_mb(fetch)
            os.remove(out + ".etag")
            peak_fetch = peak_mb(fetch)
        t_local, o = timed(base + ["snapshot", "--member", str(m["id"]), "--out", os.path.join(d, "local.vgs"),
                                   "--json"], env=env)
        print(json.dumps({
            "indicators": first["indicators"], "list_lines": n, "snapshot_bytes": size,
            "ingest_s": round(t_ingest, 2), "render_s": round(t_render, 3),
            "curl_s": round(t_curl, 3), "vigil_s": round(t_vigil, 3),
            "vigil_over_curl": round(t_vigil / t_curl, 2),
            "poll_304_vigil_ms": round(statistics.median(polls) * 1000, 1),
            "poll_304_curl_ms": round(statistics.median(curl_polls) * 1000, 1),
            "full_fetch_over_poll": round(t_vigil / statistics.median(polls), 1),
            "poll_304_vigil_peak_mb": peak_poll, "poll_304_loading_peak_mb": peak_loaded,
            "fetch_vigil_peak_mb": peak_fetch,
            "local_snapshot_s": round(t_local, 3),
        }))
    finally:
        if srv:
            srv.terminate()
            srv.wait()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()

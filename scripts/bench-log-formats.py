#!/usr/bin/env python3
"""What each log format costs the hunt, per line, against the format it stands beside: the same DNS queries as a
Windows DNS Server debug log, as FortiGate DNS-filter lines and as a BIND query log, the same proxied requests as
ProxySG's W3C (ELFF) log and as Squid's native log, the same Sysmon DNS events as Elastic Common Schema and as
Suricata EVE, the same DNS queries as CEF (Check Point's exporter) and LEEF 2.0 lines against BIND, and the same
requests as PAN-OS URL filtering logs, Cisco ASA 304001 messages and Check Point Log Exporter lines against
Squid, and the same Sysmon DNS events as `evtx_dump -o jsonl` writes them and as XML against ECS, and as a binary
`.evtx` log (written by the hunt crate's `write_evtx` example: template-less records) against the JSON lines. The
names come from the
shared data (benign top lists, and maltrail names for 1% of the lines, which the indicators are); each pair is hunted
in turn, one worker thread, several rounds, and the lines per second and their ratio printed (BENCHMARKS.md, sessions
60, 61 and 62).

    cargo build --release -p vigil-cli -p vigil-hunt --example write_evtx
    scripts/bench-log-formats.py [VIGIL] [--lines N] [--rounds R] [--dir DIR]
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "shared", "data")


def names(mal_share, n, seed):
    rng = random.Random(seed)
    benign = []
    base = os.path.join(DATA, "misp-warninglists", "lists")
    for lst in ["cloudflare-top50k", "cisco_top20k", "tranco10k"]:
        with open(os.path.join(base, lst, "list.json")) as f:
            benign += [x.strip(".") for x in json.load(f)["list"] if "." in x and " " not in x]
    benign = list(dict.fromkeys(benign))
    mal = []
    with tarfile.open(os.path.join(DATA, "maltrail", "maltrail-static-malware.shared.tar.gz")) as t:
        for m in t.getmembers():
            if not (m.isfile() and m.name.endswith(".txt")):
                continue
            for line in t.extractfile(m).read().decode("utf-8", "replace").splitlines():
                line = line.strip()
                line = line.split("#")[0].strip()
                if line and "/" not in line and ":" not in line and not line.replace(".", "").isdigit() \
                        and all(c.isalnum() or c in ".-_" for c in line):
                    mal.append(line)
            if len(mal) > 20000:
                break
    mal = list(dict.fromkeys(mal))[:20000]
    out = [rng.choice(mal) if rng.random() < mal_share else rng.choice(benign) for _ in range(n)]
    return mal, out


def write_logs(d, qs, seed):
    rng = random.Random(seed)
    files = {k: open(os.path.join(d, k), "w", newline="") for k in
             ["dns.log", "fortigate.log", "queries.log", "proxysg.log", "access.log", "ecs.ndjson", "eve.json", "cef.log", "leef.log", "panos.log", "asa.log", "checkpoint.log", "sysmon.jsonl", "sysmon.xml"]}
    files["dns.log"].write("DNS Server log file creation at 12/7/2026 9:00:00 AM\r\n\r\n")
    files["proxysg.log"].write(
        "#Software: SGOS 6.7.5.3\n#Version: 1.0\n#Fields: date time time-taken c-ip cs-username "
        "sc-filter-result cs-categories cs-method cs-uri-scheme cs-host cs-uri-port cs-uri-path cs-uri-query "
        "cs(User-Agent) s-ip s-supplier-ip\n")
    for i, n in enumerate(qs):
        ip = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        ans = f"198.51.100.{i % 250}"
        m, s = (i // 60) % 60, i % 60
        enc = "".join(f"({len(x)}){x}" for x in n.split(".")) + "(0)"
        d_, r_ = ("Snd", "R") if i % 2 else ("Rcv", " ")
        files["dns.log"].write(f"12/7/2026 9:{m:02d}:{s:02d} AM 0B5C PACKET  000002B1C7D4A0F0 UDP {d_} {ip:<15} "
                               f"3b1e {r_} Q [0001   D   NOERROR] A      {enc}\r\n")
        files["fortigate.log"].write(
            f'<188>1 2026-12-07T09:{m:02d}:{s:02d}Z fw01 - - - - eventtime={1796634000 + i}399466940 tz="+0100" '
            f'logid="1501054802" type="utm" subtype="dns" eventtype="dns-response" level="information" vd="root" '
            f'policyid=12 sessionid={i} srcip={ip} srcport=36056 srcintf="port2" dstip=10.0.0.53 dstport=53 '
            f'proto=17 profile="default" xid=29238 qname="{n}" qtype="A" qtypeval=1 qclass="IN" ipaddr="{ans}" '
            f'msg="Domain is monitored" action="pass"\n')
        files["cef.log"].write(
            f"<134>Dec  7 09:{m:02d}:{s:02d} cp-mgmt CEF:0|Check Point|VPN-1 & FireWall-1|Check Point|Log|dns|"
            f"Unknown|act=Accept deviceDirection=1 rt={1796634000 + i}000 src={ip} dst=10.0.0.53 spt=41772 dpt=53 "
            f"proto=17 origin=10.0.0.1 ifname=eth2 layer_name=Network cs4Label=DNS Query cs4={n} "
            f"cs3Label=Protection Type cs3=DNS Trap product=VPN-1 & FireWall-1\n")
        files["leef.log"].write(
            f"LEEF:2.0|Lancope|StealthWatch|7.4|dns|^|src={ip}^dst=10.0.0.53^srcPort=41772^dstPort=53^proto=17^"
            f"cs1Label=Query^cs1={n}^cat=DNS^sev=1^devTime={1796634000 + i}000\n")
        files["queries.log"].write(f"07-Dec-2026 09:{m:02d}:{s:02d}.000 queries: info: client @0x7f8b2c0a3e20 "
                                   f"{ip}#41772 ({n}): query: {n} IN A +E(0)K (10.0.0.53)\n")
        path = f"/p{rng.randrange(10000)}/index.php"
        c = [""] * 60
        c[0:8] = ["1", f"2026/12/07 09:{m:02d}:{s:02d}", "013201001234", "THREAT", "url", "2561",
                  f"2026/12/07 10:{m:02d}:{s:02d}", ip]
        c[8:21] = [ans, "0.0.0.0", "0.0.0.0", "allow-web", "corp\\jdoe", "", "web-browsing", "vsys1", "trust",
                   "untrust", "ethernet1/2", "ethernet1/1", "fwd"]
        c[22:32] = [str(i), "1", "50123", "80", "0", "0", "0x40b000", "tcp", "alert", f'"{n}{path}?id={i}"']
        c[32:38] = ["(9999)", "computer-and-internet-info", "informational", "client-to-server", str(i), "0x0"]
        files["panos.log"].write(f"<14>Dec  7 09:{m:02d}:{s:02d} PA-3220 " + ",".join(c) + "\n")
        files["asa.log"].write(f"Dec  7 09:{m:02d}:{s:02d} fw01 : %ASA-5-304001: {ip} Accessed URL "
                               f"{ans}:http://{n}{path}?id={i}\n")
        files["checkpoint.log"].write(
            f'<134>1 2026-12-07T09:{m:02d}:{s:02d}Z gw-01 CheckPoint 15871 - [action:"Accept"; flags:"311552"; '
            f'ifdir:"outbound"; ifname:"eth1"; loguid:"{{0x291ee176,0x{i:x},0xdb759c74,0xc0134e9a}}"; '
            f'origin:"10.0.0.1"; sequencenum:"1"; time:"{1796634000 + i}"; version:"5"; dst:"{ans}"; '
            f'http_host:"{n}"; method:"GET"; product:"URL Filtering"; proto:"6"; resource:"http://{n}{path}?id={i}"; '
            f's_port:"50123"; service:"80"; service_id:"http"; src:"{ip}"; web_client_type:"Firefox"]\n')
        files["proxysg.log"].write(f'2026-12-07 09:{m:02d}:{s:02d} 43 {ip} - OBSERVED "Technology/Internet" GET '
                                   f'http {n} 80 {path} ?id={i} "Mozilla/5.0 (Windows NT 10.0; Win64; x64)" '
                                   f'10.0.0.1 {ans}\n')
        files["access.log"].write(f"{1733560000 + i}.123    120 {ip} TCP_MISS/200 5120 GET http://{n}{path}?id={i} "
                                  f"- HIER_DIRECT/{ans} text/html\n")
        files["ecs.ndjson"].write(json.dumps(
            {"@timestamp": f"2026-12-07T09:{m:02d}:{s:02d}.000Z", "ecs": {"version": "8.0.0"},
             "event": {"code": "22", "module": "sysmon"}, "dns": {"question": {"name": n}, "resolved_ip": [ans]},
             "process": {"executable": "C:\\Windows\\System32\\svchost.exe", "pid": 1234},
             "host": {"name": "WS-0042"}}, separators=(",", ":")) + "\n")
        utc = f"2026-12-07T09:{m:02d}:{s:02d}.{i % 1000:03d}4567Z"
        files["sysmon.jsonl"].write(json.dumps(
            {"Event": {"#attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"},
                       "System": {"Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon",
                                                               "Guid": "5770385F-C22A-43E0-BF4C-06F5698FFBD9"}},
                                  "EventID": 22, "Version": 5, "Level": 4, "Task": 22, "Opcode": 0,
                                  "Keywords": "0x8000000000000000",
                                  "TimeCreated": {"#attributes": {"SystemTime": utc}}, "EventRecordID": i,
                                  "Correlation": None, "Execution": {"#attributes": {"ProcessID": 3012,
                                                                                     "ThreadID": 4112}},
                                  "Channel": "Microsoft-Windows-Sysmon/Operational", "Computer": "WS-0042.corp.local",
                                  "Security": {"#attributes": {"UserID": "S-1-5-18"}}},
                       "EventData": {"RuleName": "-", "UtcTime": f"2026-12-07 09:{m:02d}:{s:02d}.000",
                                     "ProcessGuid": "5A1D4C6E-0001-0000-0000-000000000000", "ProcessId": 1234,
                                     "QueryName": n, "QueryStatus": "0", "QueryResults": f"::ffff:{ans};",
                                     "Image": "C:\\Windows\\System32\\svchost.exe",
                                     "User": "NT AUTHORITY\\SYSTEM"}}}, separators=(",", ":")) + "\n")
        files["sysmon.xml"].write(
            "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider "
            "Name='Microsoft-Windows-Sysmon' Guid='{5770385f-c22a-43e0-bf4c-06f5698ffbd9}'/><EventID>22</EventID>"
            "<Version>5</Version><Level>4</Level><Task>22</Task><Opcode>0</Opcode><Keywords>0x8000000000000000"
            f"</Keywords><TimeCreated SystemTime='{utc}'/><EventRecordID>{i}</EventRecordID><Correlation/>"
            "<Execution ProcessID='3012' ThreadID='4112'/><Channel>Microsoft-Windows-Sysmon/Operational</Channel>"
            "<Computer>WS-0042.corp.local</Computer><Security UserID='S-1-5-18'/></System><EventData>"
            f"<Data Name='RuleName'>-</Data><Data Name='UtcTime'>2026-12-07 09:{m:02d}:{s:02d}.000</Data>"
            "<Data Name='ProcessGuid'>{5a1d4c6e-0001-0000-0000-000000000000}</Data><Data Name='ProcessId'>1234"
            f"</Data><Data Name='QueryName'>{n}</Data><Data Name='QueryStatus'>0</Data><Data Name='QueryResults'>"
            f"::ffff:{ans};</Data><Data Name='Image'>C:\\Windows\\System32\\svchost.exe</Data><Data Name='User'>"
            "NT AUTHORITY\\SYSTEM</Data></EventData></Event>\r\n")
        files["eve.json"].write(json.dumps(
            {"timestamp": f"2026-12-07T09:{m:02d}:{s:02d}.000000+0000", "flow_id": 123456789, "event_type": "dns",
             "src_ip": ip, "src_port": 53211, "dest_ip": "10.0.0.53", "dest_port": 53, "proto": "UDP",
             "dns": {"version": 2, "type": "answer", "rrname": n, "rrtype": "A",
                     "answers": [{"rrname": n, "rrtype": "A", "rdata": ans}]}}, separators=(",", ":")) + "\n")
    for f in files.values():
        f.close()


def hunt(vigil, env, d, log):
    out = subprocess.run([vigil, "hunt", os.path.join(d, log), "--snapshot", os.path.join(d, "intel.vgs"),
                          "--out", "/dev/null", "--json", "--threads", "1"],
                         env=env, capture_output=True, check=False)
    s = json.loads(out.stdout)
    return s["lines"], s["hits"], s["unparsable"], s["lines_per_s"], s["mb_per_s"], s["formats"][0][1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("vigil", nargs="?", default=os.path.join(HERE, "..", "target", "release", "vigil"))
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dir", default="/tmp/vigil-log-formats")
    ap.add_argument("--write-evtx", default=os.path.join(HERE, "..", "target", "release", "examples", "write_evtx"))
    a = ap.parse_args()
    if not os.path.isdir(DATA):
        sys.exit(f"the shared data is not at {DATA}")
    os.makedirs(a.dir, exist_ok=True)
    env = dict(os.environ, VIGIL_DATA=os.path.join(a.dir, "data"))
    mal, qs = names(0.01, a.lines, 7)
    with open(os.path.join(a.dir, "iocs.txt"), "w") as f:
        f.write("\n".join(mal) + "\n")
    write_logs(a.dir, qs, 5)
    with open(os.path.join(a.dir, "names.txt"), "w") as f:
        f.write("\n".join(qs) + "\n")
    subprocess.run([a.write_evtx, os.path.join(a.dir, "sysmon.evtx"), os.path.join(a.dir, "names.txt")], check=True)
    subprocess.run([a.vigil, "ingest", os.path.join(a.dir, "iocs.txt"), "--format", "iocs"], env=env, check=True,
                   capture_output=True)
    subprocess.run([a.vigil, "snapshot", "--out", os.path.join(a.dir, "intel.vgs")], env=env, check=True,
                   capture_output=True)
    pairs = [("dns.log", "queries.log"), ("fortigate.log", "queries.log"), ("proxysg.log", "access.log"),
             ("ecs.ndjson", "eve.json"), ("cef.log", "queries.log"), ("leef.log", "queries.log"),
             ("panos.log", "access.log"), ("asa.log", "access.log"), ("checkpoint.log", "access.log"),
             ("sysmon.jsonl", "ecs.ndjson"), ("sysmon.xml", "ecs.ndjson"), ("sysmon.evtx", "sysmon.jsonl")]
    best = {}
    logs = list(dict.fromkeys(x for p in pairs for x in p))
    for r in range(a.rounds):
        for log in logs:
            lines, hits, bad, lps, mbs, fmt = hunt(a.vigil, env, a.dir, log)
            print(f"round {r + 1}: {log} ({fmt}): {lines:,} lines, {hits:,} hits, {bad} unparsable, "
                  f"{lps / 1e6:.2f} M lines/s, {mbs:.0f} MB/s")
            best[log] = max(best.get(log, 0), lps)
    for new, old in pairs:
        print(f"best of {a.rounds}: {new} {best[new] / 1e6:.2f} M lines/s against {old} {best[old] / 1e6:.2f} "
              f"= {best[new] / best[old]:.2f}x")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""A CSAF 2.0 advisory with one CVE known to affect N products (a vendor/product/version branch tree with
purls): the input of the CSAF reader scaling figure in BENCHMARKS.md.

usage: gen_csaf_products.py N OUT.json
"""
import json, sys
n = int(sys.argv[1])
branches = []
ids = []
for i in range(n):
    pid = f"CSAFPID-{i:06d}"
    ids.append(pid)
    branches.append({"category": "product_name", "name": f"prod{i}", "branches": [
        {"category": "product_version", "name": f"1.{i}.0",
         "product": {"name": f"Example prod{i} 1.{i}.0", "product_id": pid,
                     "product_identification_helper": {"purl": f"pkg:npm/prod{i}@1.{i}.0"}}}]})
doc = {
 "document": {"category": "csaf_security_advisory", "csaf_version": "2.0", "title": "Big advisory",
   "publisher": {"category": "vendor", "name": "Example", "namespace": "https://example.org"},
   "tracking": {"id": "EX-2026-0001", "status": "final", "version": "1", "initial_release_date": "2026-01-01T00:00:00Z",
     "current_release_date": "2026-01-01T00:00:00Z",
     "revision_history": [{"date": "2026-01-01T00:00:00Z", "number": "1", "summary": "Initial"}]}},
 "product_tree": {"branches": [{"category": "vendor", "name": "Example", "branches": branches}]},
 "vulnerabilities": [{"cve": "CVE-2026-0001", "title": "x", "product_status": {"known_affected": ids},
   "remediations": [{"category": "vendor_fix", "details": "Update", "product_ids": ids}]}]}
json.dump(doc, open(sys.argv[2], "w"))

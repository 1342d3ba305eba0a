#!/usr/bin/env bash
# Builds a local signing CSAF provider from the CISA tree in ../shared/data (2,383 documents), for measuring what the
# integrity checks cost (BENCHMARKS.md, sessions 29 and 30): every document gets a `sha512sum` hash file and an
# armored detached signature made by GnuPG with an Ed25519 signing subkey of a certification key (as providers set
# them up); both ROLIE feeds point at the mirror; `.well-known/csaf/provider-metadata.json` lists the key.
#
#   scripts/csaf-signed-mirror.sh OUT PORT         # then: (cd OUT && python3 -m http.server PORT --bind 127.0.0.1)
#   vigil --data D feeds add --name cisa --kind csaf --url http://127.0.0.1:PORT/.well-known/csaf/provider-metadata.json
#   time vigil --data D feeds pull --name cisa --json
set -euo pipefail
out="${1:?usage: $0 OUT PORT}"
port="${2:?usage: $0 OUT PORT}"
data="$(cd "$(dirname "$0")/.." && pwd)/../shared/data"
base="http://127.0.0.1:$port"
rm -rf "$out"
mkdir -p "$out/.well-known/csaf" "$out/openpgp"
tar xzf "$data/csaf-cisa/cisagov-csaf-files.json.tar.gz" -C "$out"
for f in "$out"/csaf_files/*/white/*feed-tlp-white.json; do
  sed -i "s#https://raw.githubusercontent.com/cisagov/CSAF/develop/#$base/#g" "$f"
done
GNUPGHOME="$(mktemp -d)"; export GNUPGHOME
trap 'gpgconf --kill all >/dev/null 2>&1 || true; rm -rf "$GNUPGHOME"' EXIT
gpg --batch --quiet --passphrase '' --quick-gen-key 'CISA test mirror <csaf@mirror.example>' ed25519 cert never
fpr="$(gpg --with-colons --fingerprint csaf@mirror.example | awk -F: '/^fpr/{print $10; exit}')"
gpg --batch --quiet --passphrase '' --quick-add-key "$fpr" ed25519 sign never
gpg --batch --quiet --armor --export "$fpr" > "$out/openpgp/mirror.asc"
find "$out/csaf_files" -name '*.json' ! -name '*feed-tlp-white.json' -print0 |
  xargs -0 -P 2 -n 50 sh -c 'for d in "$@"; do
      (cd "$(dirname "$d")" && sha512sum "$(basename "$d")" > "$(basename "$d").sha512")
      gpg --batch --quiet --yes --armor --detach-sign -o "$d.asc" "$d"
    done' sh
cat > "$out/.well-known/csaf/provider-metadata.json" <<JSON
{"canonical_url": "$base/.well-known/csaf/provider-metadata.json",
 "distributions": [
   {"rolie": {"feeds": [
     {"summary": "OT advisories", "tlp_label": "WHITE", "url": "$base/csaf_files/OT/white/cisa-csaf-ot-feed-tlp-white.json"},
     {"summary": "IT advisories", "tlp_label": "WHITE", "url": "$base/csaf_files/IT/white/cisa-csaf-it-feed-tlp-white.json"}]}}],
 "last_updated": "2024-10-24T00:00:00Z", "list_on_CSAF_aggregators": true, "metadata_version": "2.0",
 "mirror_on_CSAF_aggregators": true,
 "public_openpgp_keys": [{"fingerprint": "$fpr", "url": "$base/openpgp/mirror.asc"}],
 "publisher": {"category": "coordinator", "name": "CISA (test mirror)", "namespace": "https://www.cisa.gov"},
 "role": "csaf_trusted_provider"}
JSON
echo "mirror in $out: $(find "$out/csaf_files" -name '*.json.asc' | wc -l) signed documents, key $fpr"

#!/usr/bin/env bash
# Makes crates/feeds/tests/fixtures/csaf-signed/ with GnuPG: a CSAF provider's key (an Ed25519 certification key
# with an Ed25519 signing subkey, as providers set them up), its fingerprint, a small CSAF document signed by it
# (armored and binary detached signatures), and the same document signed by an unrelated key.
# Run once; the outputs are committed (keys are throwaway and hold no secret worth keeping).
set -euo pipefail
out="$(cd "$(dirname "$0")/.." && pwd)/crates/feeds/tests/fixtures/csaf-signed"
mkdir -p "$out"
GNUPGHOME="$(mktemp -d)"; export GNUPGHOME
trap 'gpgconf --kill all >/dev/null 2>&1 || true; rm -rf "$GNUPGHOME"' EXIT
fpr_of() { gpg --with-colons --fingerprint "$1" | awk -F: '/^fpr/{print $10; exit}'; }
gpg --batch --quiet --passphrase '' --quick-gen-key 'Demo CSAF Provider <csaf@provider.example>' ed25519 cert never
prov="$(fpr_of csaf@provider.example)"
gpg --batch --quiet --passphrase '' --quick-add-key "$prov" ed25519 sign never
gpg --batch --quiet --passphrase '' --quick-gen-key 'Someone Else <other@elsewhere.example>' ed25519 sign never
other="$(fpr_of other@elsewhere.example)"
cat > "$out/doc.json" <<'JSON'
{"document":{"category":"csaf_security_advisory","csaf_version":"2.0","publisher":{"category":"vendor","name":"Demo CSAF Provider","namespace":"https://provider.example"},"title":"Demo advisory","tracking":{"current_release_date":"2026-01-01T00:00:00Z","id":"DEMO-2026-001","initial_release_date":"2026-01-01T00:00:00Z","revision_history":[{"date":"2026-01-01T00:00:00Z","number":"1","summary":"Initial"}],"status":"final","version":"1"}}}
JSON
cd "$out"
rm -f doc.json.asc doc.json.sig doc.json.other.asc
gpg --batch --quiet --armor --export "$prov" > provider.asc
echo "$prov" > provider.fpr
gpg --batch --quiet --armor --detach-sign -u "$prov" -o doc.json.asc doc.json
gpg --batch --quiet --detach-sign -u "$prov" -o doc.json.sig doc.json
gpg --batch --quiet --armor --detach-sign -u "$other!" -o doc.json.other.asc doc.json
echo "made $out (provider $prov)"

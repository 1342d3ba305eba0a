#!/usr/bin/env bash
# Makes crates/feeds/tests/fixtures/csaf-signed/ with GnuPG: a CSAF provider's key (an Ed25519 certification key
# with an Ed25519 signing subkey, as providers set them up), its fingerprint, a small CSAF document signed by it
# (armored and binary detached signatures), and the same document signed by an unrelated key, which also
# certifies the provider key (provider-certified.asc). Then keys with a life, with signatures of the document made
# at fixed times before and after the event (GnuPG's --faked-system-time; T0 = 2026-01-01): one that expires, one
# whose signing subkey expires, one retired (soft revocation: "superseded"), one revoked as compromised (hard
# revocation) and one whose signing subkey was revoked as compromised.
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
# The provider key as a key server hands it out: with another key's certification of its user id.
gpg --batch --quiet --yes --default-key "$other" --quick-sign-key "$prov" 2>/dev/null
gpg --batch --quiet --armor --export "$prov" > provider-certified.asc

T0=1767225600; D=86400
at() { local t="$1"; shift; gpg --batch --quiet --faked-system-time "$t!" "$@" 2>&1 | grep -v 'faked system time' >&2 || true; }
sign_at() { at "$1" --armor --detach-sign -u "$2" -o "$3" doc.json; }
revoke_at() { # time fpr reason (GnuPG's menu: 1 compromised, 2 superseded, 3 no longer used)
  printf 'y\n%s\nrevoked for the fixtures\n\ny\n' "$3" |
    gpg --faked-system-time "$1!" --command-fd 0 --status-fd 3 --no-tty --armor --output rev.tmp --gen-revoke "$2" 3>/dev/null 2>/dev/null
  at "$1" --import rev.tmp; rm -f rev.tmp
}
rm -f doc.json.*-before.asc doc.json.*-after.asc doc.json.compromised.asc doc.json.subrevoked.asc
# Expires at T0 + 5 days (set on day 2, after the day-10 signature was made: GnuPG would not sign with it then).
at "$T0" --passphrase '' --quick-gen-key 'Expiring Provider <exp@provider.example>' ed25519 sign never
exp="$(fpr_of exp@provider.example)"
sign_at $((T0 + D)) "$exp" doc.json.expiring-before.asc
sign_at $((T0 + 10 * D)) "$exp" doc.json.expiring-after.asc
at $((T0 + 2 * D)) --passphrase '' --quick-set-expire "$exp" 3d
# A certification-only primary with a signing subkey that expires at T0 + 5 days.
at "$T0" --passphrase '' --quick-gen-key 'Subkey Provider <sub@provider.example>' ed25519 cert never
subp="$(fpr_of sub@provider.example)"
at "$T0" --passphrase '' --quick-add-key "$subp" ed25519 sign never
subk="$(gpg --with-colons --fingerprint --with-subkey-fingerprint "$subp" | awk -F: '/^fpr/{f=$10} END{print f}')"
sign_at $((T0 + D)) "$subk!" doc.json.subkey-before.asc
sign_at $((T0 + 10 * D)) "$subk!" doc.json.subkey-after.asc
at $((T0 + 2 * D)) --passphrase '' --quick-set-expire "$subp" 3d "$subk"
# Retired on day 4 (superseded): signatures made before stay good.
at "$T0" --passphrase '' --quick-gen-key 'Retired Provider <retired@provider.example>' ed25519 sign never
ret="$(fpr_of retired@provider.example)"
sign_at $((T0 + D)) "$ret" doc.json.retired-before.asc
sign_at $((T0 + 10 * D)) "$ret" doc.json.retired-after.asc
revoke_at $((T0 + 4 * D)) "$ret" 2
# Revoked as compromised on day 4: no signature of it is good, whenever it says it was made.
at "$T0" --passphrase '' --quick-gen-key 'Compromised Provider <comp@provider.example>' ed25519 sign never
comp="$(fpr_of comp@provider.example)"
sign_at $((T0 + D)) "$comp" doc.json.compromised.asc
revoke_at $((T0 + 4 * D)) "$comp" 1
# A certification primary whose signing subkey was revoked as compromised on day 4 (its day-1 signature is no good).
at "$T0" --passphrase '' --quick-gen-key 'Subkey Revoked Provider <subrev@provider.example>' ed25519 cert never
srp="$(fpr_of subrev@provider.example)"
at "$T0" --passphrase '' --quick-add-key "$srp" ed25519 sign never
sign_at $((T0 + D)) "$srp" doc.json.subrevoked.asc
printf 'key 1\nrevkey\ny\n1\nrevoked for the fixtures\n\ny\nsave\n' |
  gpg --faked-system-time "$((T0 + 4 * D))!" --command-fd 0 --status-fd 3 --no-tty --edit-key "$srp" 3>/dev/null >/dev/null 2>&1
gpg --batch --quiet --armor --export "$srp" > subrevoked.asc; echo "$srp" > subrevoked.fpr
gpg --batch --quiet --armor --export "$exp" > expiring.asc; echo "$exp" > expiring.fpr
gpg --batch --quiet --armor --export "$subp" > subkey.asc; echo "$subp" > subkey.fpr
gpg --batch --quiet --armor --export "$ret" > retired.asc; echo "$ret" > retired.fpr
gpg --batch --quiet --armor --export "$comp" > compromised.asc; echo "$comp" > compromised.fpr
for k in expiring subkey retired compromised; do grep -q 'BEGIN PGP PUBLIC KEY' "$k.asc" || { echo "no $k.asc" >&2; exit 1; }; done
echo "made $out (provider $prov)"

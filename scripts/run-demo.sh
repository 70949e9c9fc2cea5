#!/usr/bin/env bash
# `make run`: initialise a demo deployment in $FIELDCASE_DATA_DIR (default var/) once, then serve.
#
# Demo only: when no key passphrase is configured, one is generated into the data directory so
# the demo can decrypt. A real deployment sets FIELDCASE_KEY_PASSPHRASE_FILE to a file kept away
# from the data directory and its backups (see docs/operations.md).
set -euo pipefail
# Everything written into the data directory is private: `fieldcase serve` refuses a data
# directory other users can read (docs/security.md).
umask 077
bin=.venv/bin
data_dir=${FIELDCASE_DATA_DIR:-var}
mkdir -p "$data_dir"
chmod 700 "$data_dir"

if [ -z "${FIELDCASE_KEY_PASSPHRASE:-}" ] && [ -z "${FIELDCASE_KEY_PASSPHRASE_FILE:-}" ]; then
  passphrase_file="$data_dir/demo-key-passphrase"
  if [ ! -f "$passphrase_file" ]; then
    ("$bin/python" -c 'import secrets; print(secrets.token_urlsafe(32))' > "$passphrase_file")
    echo "fieldcase: demo key passphrase written to $passphrase_file (keep a real one elsewhere)"
  fi
  export FIELDCASE_KEY_PASSPHRASE_FILE="$passphrase_file"
fi

"$bin/fieldcase" init
"$bin/fieldcase" forms publish
# Unless FIELDCASE_PUBLIC_URL is set: this machine's LAN address, and how to serve for phones
# (printed in Vietnamese and English); the demo phone's URL and QR code then use it.
lan_url=$("$bin/fieldcase" phone-hint)
# A demo phone account, once: its server URL is shown only when it is made.
if [ ! -f "$data_dir/demo-collector-created" ]; then
  FIELDCASE_PUBLIC_URL=${FIELDCASE_PUBLIC_URL:-${lan_url:-}} \
    "$bin/fieldcase" collectors add demo-phone --unit 01 --show-qr --qr "$data_dir/demo-collector-qr.png"
  touch "$data_dir/demo-collector-created"
else
  echo "fieldcase: demo collector exists; its server URL was printed when it was made" \
       "(revoke it and add another to get a new one)."
fi
exec "$bin/fieldcase" serve

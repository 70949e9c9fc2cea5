#!/usr/bin/env bash
# `make run`: initialise a demo deployment in $FIELDCASE_DATA_DIR (default var/) once, then serve.
#
# Demo only: when no key passphrase is configured, one is generated into the data directory so
# the demo can decrypt. A real deployment sets FIELDCASE_KEY_PASSPHRASE_FILE to a file kept away
# from the data directory and its backups (see docs/operations.md).
set -euo pipefail
bin=.venv/bin
data_dir=${FIELDCASE_DATA_DIR:-var}
mkdir -p "$data_dir"
chmod 700 "$data_dir"

if [ -z "${FIELDCASE_KEY_PASSPHRASE:-}" ] && [ -z "${FIELDCASE_KEY_PASSPHRASE_FILE:-}" ]; then
  passphrase_file="$data_dir/demo-key-passphrase"
  if [ ! -f "$passphrase_file" ]; then
    (umask 077 && "$bin/python" -c 'import secrets; print(secrets.token_urlsafe(32))' > "$passphrase_file")
    echo "fieldcase: demo key passphrase written to $passphrase_file (keep a real one elsewhere)"
  fi
  export FIELDCASE_KEY_PASSPHRASE_FILE="$passphrase_file"
fi

"$bin/fieldcase" init
if "$bin/fieldcase" forms publish --help >/dev/null 2>&1; then
  "$bin/fieldcase" forms publish || echo "fieldcase: forms publish failed; serving without new forms" >&2
fi
exec "$bin/fieldcase" serve

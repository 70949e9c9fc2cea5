#!/usr/bin/env bash
# Installs Debian's headless Chromium for the browser tests when it is missing (root only).
# Without it the browser tests skip with a message; nothing else needs it.
set -u
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "fieldcase: installing chromium and chromium-driver for the browser tests"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
    || echo "fieldcase: could not install chromium; browser tests will skip" >&2
else
  echo "fieldcase: /usr/bin/chromium missing and not root; browser tests will skip" >&2
fi
exit 0

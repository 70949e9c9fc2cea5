#!/usr/bin/env bash
# Installs Debian's headless LibreOffice Calc and poppler-utils for the report workbook test
# (it converts the XLSX to PDF and keeps page 1 as a PNG under test-artifacts/), root only.
# Without them that test skips with a message; nothing else needs them.
set -u
if command -v soffice >/dev/null 2>&1 && command -v pdftoppm >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "fieldcase: installing libreoffice-calc-nogui and poppler-utils for the report test"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libreoffice-calc-nogui poppler-utils >/dev/null) \
    || echo "fieldcase: could not install LibreOffice; the report rendering test will skip" >&2
else
  echo "fieldcase: soffice or pdftoppm missing and not root; the report rendering test will skip" >&2
fi
exit 0

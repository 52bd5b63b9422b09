#!/usr/bin/env bash
# Debian's chromium and chromium-driver for the report's browser tests
# (/usr/bin/chromium, /usr/bin/chromedriver), and exiftool (libimage-exiftool-perl), the
# real reader the tests check the pack's XMP with. Installed once; needs root or sudo.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] && [ -x /usr/bin/exiftool ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "setup: no apt-get: install chromium and chromedriver yourself; browser tests will skip" >&2
  exit 0
fi
run=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null; then run="sudo"; else
    echo "setup: not root and no sudo: browser tests will skip" >&2
    exit 0
  fi
fi
echo "setup: installing chromium, chromium-driver and exiftool (Debian packages) for the tests" >&2
packages="chromium chromium-driver libimage-exiftool-perl"
$run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $packages >/dev/null \
  || { $run apt-get update -q >/dev/null && \
       $run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $packages >/dev/null; }

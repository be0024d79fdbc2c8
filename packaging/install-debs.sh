#!/usr/bin/env bash
# Install the Debian packages named as arguments that are not installed yet.
# Quiet and quick when everything is there; a clear hint when it cannot install.
set -euo pipefail
missing=()
for pkg in "$@"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "knoblab: not a Debian system; make sure Qt's libraries are present: ${missing[*]}" >&2
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "knoblab: please install (as root): apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi
echo "knoblab: installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

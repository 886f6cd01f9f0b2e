#!/usr/bin/env bash
# Installs the Debian packages avdf uses, only those that are missing. Idempotent.
# Needs root (or sudo) only when something is missing.
set -euo pipefail

pkgs=(
  sox libsox-fmt-all ffmpeg espeak-ng flite
  asterisk-core-sounds-en-wav asterisk-core-sounds-es-wav asterisk-core-sounds-fr-wav
  asterisk-core-sounds-it-wav asterisk-core-sounds-ru-wav asterisk-prompt-it-menardi-wav
  pocketsphinx-testdata opencv-doc
  slurmctld slurmd slurm-client munge
)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install_debian.sh: all ${#pkgs[@]} Debian packages present"
  exit 0
fi

echo "install_debian.sh: installing ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
  echo "install_debian.sh: missing Debian packages (${missing[*]}) and not root; install them with apt-get" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install_debian.sh: done"

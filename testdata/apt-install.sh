#!/usr/bin/env bash
# apt-install.sh PACKAGE=PATH...: installs each Debian package whose PATH is
# missing, for the tests that use it: chromium (the status page's headless
# browser test) and qemu-user-static (the release binaries' arm tests).
# Non-interactive; needs root or passwordless sudo and apt-get. When it cannot
# install, it says why and exits 0: those tests then skip with a message.
set -uo pipefail

log() { echo "apt-install.sh: $*" >&2; }

missing=()
for spec in "$@"; do
	pkg=${spec%%=*} path=${spec#*=}
	if [[ -x $path ]]; then
		log "$pkg present ($path)"
	else
		missing+=("$pkg")
	fi
done
((${#missing[@]})) || exit 0
if ! command -v apt-get >/dev/null 2>&1; then
	log "no apt-get here; install ${missing[*]} yourself (the tests that need them will skip)"
	exit 0
fi
sudo=()
if [[ $EUID -ne 0 ]]; then
	if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
		sudo=(sudo -n)
	else
		log "not root and no passwordless sudo; run 'apt-get install -y ${missing[*]}' as root (the tests that need them will skip)"
		exit 0
	fi
fi
apt() { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "$@" >&2; }
log "apt-get install ${missing[*]}"
if ! apt install -y -q --no-install-recommends "${missing[@]}"; then
	log "apt-get install failed; running apt-get update once and retrying"
	if ! apt update -q || ! apt install -y -q --no-install-recommends "${missing[@]}"; then
		log "could not install ${missing[*]} (the tests that need them will skip)"
		exit 0
	fi
fi
log "installed ${missing[*]}"

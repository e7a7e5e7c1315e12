#!/usr/bin/env bash
# Builds (or reuses) a Debian sid tree with matrix-synapse installed, for mx's tests and demo.
# Debian stable has no Synapse package and installing sid packages on the host would upgrade
# libc, so Synapse lives in its own debootstrap tree and runs there under chroot.
#
#   scripts/provision-synapse.sh [DIR]     (default: $MX_SYNAPSE_TREE or ~/.cache/mx/synapse-sid)
#
# Needs root and the Debian mirror. Prints the tree's path on success.
set -euo pipefail

tree="${1:-${MX_SYNAPSE_TREE:-$HOME/.cache/mx/synapse-sid}}"
mirror="${MX_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# The sid Release file served here can be past its Valid-Until date.
apt_opts=(-o Acquire::Check-Valid-Until=false -o Dpkg::Use-Pty=0)

log() { printf 'provision-synapse: %s\n' "$*" >&2; }

# Debian packages the tests need in the tree besides Synapse: authlib for its OpenID Connect
# login (the single sign-on tests), and the Python modules that say they are there.
EXTRA_PACKAGES=(python3-authlib)
EXTRA_MODULES='import authlib'

tree_works() {
  [ -x "$tree/usr/bin/python3" ] &&
    chroot "$tree" python3 -c 'import synapse.app.homeserver' >/dev/null 2>&1
}

tree_complete() {
  chroot "$tree" python3 -c "$EXTRA_MODULES" >/dev/null 2>&1
}

# A tree made before a package was added to EXTRA_PACKAGES gets it now, instead of a rebuild.
add_extra_packages() {
  log "adding ${EXTRA_PACKAGES[*]} to $tree"
  {
    chroot "$tree" apt-get "${apt_opts[@]}" update &&
      DEBIAN_FRONTEND=noninteractive chroot "$tree" apt-get "${apt_opts[@]}" install -y --no-install-recommends "${EXTRA_PACKAGES[@]}"
  } >>"$tree.log" 2>&1 || { log "apt-get in the tree failed; see $tree.log"; exit 1; }
  chroot "$tree" apt-get clean >/dev/null 2>&1 || true
}

if tree_works && tree_complete; then
  printf '%s\n' "$tree"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  log "building the Synapse tree needs root (debootstrap and chroot); run as root, or set"
  log "MX_TEST_HOMESERVER=<url> to use a running homeserver with open registration"
  exit 1
fi

if ! command -v debootstrap >/dev/null; then
  log "installing debootstrap"
  apt-get update -qq >/dev/null
  apt-get install -y -qq debootstrap >/dev/null
fi

# A half-built or broken tree is rebuilt from scratch, under a lock so that parallel runs
# do not build the same tree twice.
mkdir -p "$(dirname "$tree")"
exec 9>"$tree.lock"
flock 9
if tree_works; then
  tree_complete || add_extra_packages
  tree_complete || { log "${EXTRA_PACKAGES[*]} did not install in $tree; see $tree.log"; exit 1; }
  printf '%s\n' "$tree"
  exit 0
fi
if [ -e "$tree" ]; then
  log "removing broken tree $tree"
  rm -rf --one-file-system "$tree"
fi

work="$tree.building"
rm -rf --one-file-system "$work"
log "debootstrap sid into $work (about 30 s)"
debootstrap --variant=minbase --include=ca-certificates sid "$work" "$mirror" >"$tree.log" 2>&1 ||
  { log "debootstrap failed; see $tree.log"; exit 1; }

# Keep the package's post-install step from starting a service.
printf '#!/bin/sh\nexit 101\n' >"$work/usr/sbin/policy-rc.d"
chmod 755 "$work/usr/sbin/policy-rc.d"

log "installing matrix-synapse in the tree (about 45 s)"
{
  chroot "$work" apt-get "${apt_opts[@]}" update &&
    DEBIAN_FRONTEND=noninteractive chroot "$work" apt-get "${apt_opts[@]}" install -y --no-install-recommends matrix-synapse "${EXTRA_PACKAGES[@]}"
} >>"$tree.log" 2>&1 || { log "apt-get in the tree failed; see $tree.log"; exit 1; }
chroot "$work" apt-get clean >/dev/null 2>&1 || true

mv "$work" "$tree"
tree_works && tree_complete || { log "the tree was built but Synapse or ${EXTRA_PACKAGES[*]} does not import; see $tree.log"; exit 1; }
log "ready: $tree"
printf '%s\n' "$tree"

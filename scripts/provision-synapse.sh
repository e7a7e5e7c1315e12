#!/usr/bin/env bash
# Builds (or reuses) a Debian sid tree with matrix-synapse installed, for mx's tests and demo.
# Debian stable has no Synapse package and installing sid packages on the host would upgrade
# libc, so Synapse lives in its own tree and runs there under chroot.
#
#   scripts/provision-synapse.sh [DIR]     (default: $MX_SYNAPSE_TREE or ~/.cache/mx/synapse-sid)
#
# As root: debootstrap (installed with apt-get if missing) and chroot. As a normal user, where
# the kernel allows user namespaces: mmdebstrap --mode=unshare builds the tree (it needs the
# user's subordinate IDs and newuidmap), and the tree is entered with `unshare --map-root-user
# chroot`, the user being root in a namespace of its own. Needs the Debian mirror. Prints the
# tree's path on success.
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

rootless=false
[ "$(id -u)" -ne 0 ] && rootless=true

# Runs a command in the tree as its root. A normal user is root in a user namespace of its
# own, with the host's /dev bound into the tree (made without root, it has no device nodes);
# --map-auto also maps the user's subordinate IDs, which own the tree's files and which apt
# (its _apt user) needs. test/homeserver/synapse.mjs enters the tree the same way.
ENTER_TREE='mount --rbind /dev "$0/dev" && exec chroot "$0" "$@"'
in_tree() {
  if ! $rootless; then chroot "$tree" "$@"; else unshare --map-root-user --mount sh -c "$ENTER_TREE" "$tree" "$@"; fi
}
apt_in_tree() {
  if ! $rootless; then chroot "$tree" apt-get "${apt_opts[@]}" "$@"; else unshare --map-root-user --map-auto --mount sh -c "$ENTER_TREE" "$tree" apt-get "${apt_opts[@]}" "$@"; fi
}

# Removes a (broken or half-built) tree; a normal user's has files owned by its subordinate IDs.
remove_tree() {
  if ! $rootless; then rm -rf --one-file-system "$1"; else unshare --map-root-user --map-auto rm -rf --one-file-system "$1"; fi
}

tree_works() {
  [ -x "$tree/usr/bin/python3" ] &&
    in_tree python3 -c 'import synapse.app.homeserver' >/dev/null 2>&1
}

tree_complete() {
  in_tree python3 -c "$EXTRA_MODULES" >/dev/null 2>&1
}

# A tree made before a package was added to EXTRA_PACKAGES gets it now, instead of a rebuild.
add_extra_packages() {
  log "adding ${EXTRA_PACKAGES[*]} to $tree"
  {
    apt_in_tree update && DEBIAN_FRONTEND=noninteractive apt_in_tree install -y --no-install-recommends "${EXTRA_PACKAGES[@]}"
  } >>"$tree.log" 2>&1 || { log "apt-get in the tree failed; see $tree.log"; exit 1; }
  apt_in_tree clean >/dev/null 2>&1 || true
}

# What a normal user needs to build a tree; says exactly what is missing, and exits.
check_rootless_tools() {
  local user missing=()
  user="$(id -un 2>/dev/null || id -u)"
  if ! unshare --map-root-user true 2>/dev/null; then
    log "this kernel does not let normal users create user namespaces (unshare --map-root-user failed),"
    log "so Synapse cannot run here without root: run as root, or set MX_TEST_HOMESERVER=<url>"
    log "(a running homeserver with open registration)"
    exit 1
  fi
  command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
  command -v newuidmap >/dev/null || missing+=(uidmap)
  if [ "${#missing[@]}" -gt 0 ]; then
    log "building the Synapse tree as a normal user needs: ${missing[*]}"
    log "install as root: apt-get install ${missing[*]}   (or run as root, or set MX_TEST_HOMESERVER=<url>)"
    exit 1
  fi
  if ! grep -qs "^\($user\|$(id -u)\):" /etc/subuid || ! grep -qs "^\($user\|$(id -g)\):" /etc/subgid; then
    log "building the Synapse tree as a normal user needs subordinate IDs for $user in /etc/subuid and /etc/subgid"
    log "add them as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 $user"
    log "(or run as root, or set MX_TEST_HOMESERVER=<url>)"
    exit 1
  fi
}

if tree_works && tree_complete; then
  printf '%s\n' "$tree"
  exit 0
fi

if $rootless; then
  check_rootless_tools
elif ! command -v debootstrap >/dev/null; then
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
  remove_tree "$tree"
fi

work="$tree.building"
[ -e "$work" ] && remove_tree "$work"
if $rootless; then
  log "mmdebstrap sid with matrix-synapse into $work (about two minutes)"
  # mmdebstrap keeps services from starting while it installs. The tree's files belong to the
  # user's subordinate IDs (its root is the first one), so srv/, where each Synapse gets its
  # data folder, is made writable for the user, as /tmp is.
  mmdebstrap --mode=unshare --variant=minbase --include="ca-certificates,matrix-synapse,$(IFS=,; echo "${EXTRA_PACKAGES[*]}")" \
    --aptopt='Acquire::Check-Valid-Until "false"' --customize-hook='mkdir -p "$1/srv" && chmod 1777 "$1/srv"' \
    sid "$work" "$mirror" >"$tree.log" 2>&1 ||
    { log "mmdebstrap failed; see $tree.log"; exit 1; }
else
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
fi

mv "$work" "$tree"
tree_works && tree_complete || { log "the tree was built but Synapse or ${EXTRA_PACKAGES[*]} does not import; see $tree.log"; exit 1; }
log "ready: $tree"
printf '%s\n' "$tree"

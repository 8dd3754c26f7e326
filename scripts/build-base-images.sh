#!/usr/bin/env bash
# Builds Bosun's base images offline (no public registry is reachable), cached:
#   bosun/base:bookworm  debootstrap --variant=minbase + python3, git, ca-certificates (~1.5 min once)
#   bosun/busybox:1      a static busybox with its applet links (seconds; used by fast tests)
#   bosun/redis-test:7   bosun/base + this host's redis-server and redis-cli with the libraries
#                        the base lacks (seconds; a real server for service-container tests)
# Both get a `bosun` user (1000:1000), the non-root user steps run as, and /workspace.
# /home/bosun is deliberately absent: executors mount a tmpfs there, and a tmpfs over an
# existing directory takes that directory's mode (root 0755) instead of the one asked for.
# Tarballs are cached under /var/cache/bosun/ (BOSUN_IMAGE_CACHE); an image that already
# exists on the engine is skipped entirely. Set BOSUN_SKIP_BASE=1 to build only busybox.
set -euo pipefail

CACHE=${BOSUN_IMAGE_CACHE:-/var/cache/bosun}
BASE_TAG=bosun/base:bookworm
BUSYBOX_TAG=bosun/busybox:1
REDIS_TEST_TAG=bosun/redis-test:7
mkdir -p "$CACHE"

log() { echo "build-base-images: $*" >&2; }
have_image() { docker image inspect "$1" >/dev/null 2>&1; }

# The bookworm mirror apt already uses (deb822 `.sources` or one-line `.list`), else deb.debian.org.
apt_mirror() {
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    uri=$(awk '
      /^[[:space:]]*$/ { if (ok && u != "") { print u; exit } ok = 0; u = ""; next }
      /^URIs:/ { u = $2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm") ok = 1 }
      END { if (ok && u != "") print u }' "$f" | head -n1)
    if [[ -n $uri ]]; then echo "$uri"; return; fi
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f $f ]] || continue
    uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z+]+:\/\//) { if ($(i + 1) == "bookworm") { print $i; exit } break } }' "$f")
    if [[ -n $uri ]]; then echo "$uri"; return; fi
  done
  echo http://deb.debian.org/debian
}

# Adds the step user and the workspace mount point to a rootfs.
add_step_user() {
  local root=$1
  mkdir -p "$root/etc" "$root/tmp" "$root/workspace"
  chmod 1777 "$root/tmp"
  grep -q '^root:' "$root/etc/passwd" 2>/dev/null || echo 'root:x:0:0:root:/root:/bin/sh' >>"$root/etc/passwd"
  grep -q '^root:' "$root/etc/group" 2>/dev/null || echo 'root:x:0:' >>"$root/etc/group"
  grep -q '^bosun:' "$root/etc/passwd" || echo 'bosun:x:1000:1000:bosun step user:/home/bosun:/bin/sh' >>"$root/etc/passwd"
  grep -q '^bosun:' "$root/etc/group" || echo 'bosun:x:1000:' >>"$root/etc/group"
  chown 1000:1000 "$root/workspace"
}

build_busybox() {
  if have_image "$BUSYBOX_TAG"; then log "$BUSYBOX_TAG exists"; return; fi
  local tarball=$CACHE/busybox-rootfs.tar
  if [[ ! -s $tarball ]]; then
    local work
    work=$(mktemp -d)
    (
      cd "$work"
      log "downloading busybox-static"
      apt-get download busybox-static >/dev/null
      dpkg-deb -x busybox-static_*.deb pkg
      mkdir -p root/bin root/usr/bin root/sbin root/usr/sbin
      cp pkg/bin/busybox root/bin/busybox
      local applet
      for applet in $(root/bin/busybox --list-full); do
        [[ -e root/$applet ]] || ln -s /bin/busybox "root/$applet"
      done
      add_step_user root
      tar --numeric-owner -C root -cf "$tarball.tmp" .
      mv "$tarball.tmp" "$tarball"
    )
    rm -rf "$work"
  fi
  log "importing $BUSYBOX_TAG"
  docker import -c 'CMD ["/bin/sh"]' "$tarball" "$BUSYBOX_TAG" >/dev/null
}

build_base() {
  if have_image "$BASE_TAG"; then log "$BASE_TAG exists"; return; fi
  local tarball=$CACHE/bookworm-minbase.tar
  if [[ ! -s $tarball ]]; then
    local work mirror
    work=$(mktemp -d /var/tmp/bosun-debootstrap.XXXXXX)
    mirror=$(apt_mirror)
    log "debootstrap bookworm from $mirror (about 1.5 min)"
    debootstrap --variant=minbase --include=python3,git,ca-certificates bookworm "$work/root" "$mirror" \
      >"$CACHE/debootstrap.log" 2>&1 || { tail -n 30 "$CACHE/debootstrap.log" >&2; rm -rf "$work"; return 1; }
    rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"* "$work/root/dev/"*
    add_step_user "$work/root"
    tar --numeric-owner -C "$work/root" -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf "$work"
  fi
  log "importing $BASE_TAG"
  docker import -c 'CMD ["/bin/bash"]' -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "$tarball" "$BASE_TAG" >/dev/null
}

# A real server image without a registry: the host's redis-server (install-deps.sh installs
# it; both are Debian bookworm) copied onto bosun/base, with each shared library it needs
# that the base does not have. Runs as any user: its data and pid go to /tmp.
build_redis_test() {
  if have_image "$REDIS_TEST_TAG"; then log "$REDIS_TEST_TAG exists"; return; fi
  local work bin lib
  work=$(mktemp -d)
  mkdir -p "$work/rootfs/usr/bin"
  for bin in redis-server redis-cli; do
    cp -L "$(command -v "$bin")" "$work/rootfs/usr/bin/$bin"
    for lib in $(ldd "$(command -v "$bin")" | awk '$3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
      mkdir -p "$work/rootfs$(dirname "$lib")"
      cp -L "$lib" "$work/rootfs$lib"
    done
  done
  cat >"$work/Dockerfile" <<DOCKERFILE
FROM $BASE_TAG
COPY rootfs/ /opt/redis-test/
RUN set -e; cd /opt/redis-test; for f in \$(find . -type f); do t=\${f#.}; [ -e "\$t" ] || { mkdir -p "\$(dirname "\$t")"; cp "\$f" "\$t"; }; done; rm -rf /opt/redis-test; ldconfig; redis-server --version
CMD ["redis-server", "--save", "", "--appendonly", "no", "--dir", "/tmp", "--pidfile", "/tmp/redis.pid", "--protected-mode", "no"]
DOCKERFILE
  log "building $REDIS_TEST_TAG"
  docker build -q -t "$REDIS_TEST_TAG" "$work" >/dev/null || { rm -rf "$work"; return 1; }
  rm -rf "$work"
}

build_busybox
if [[ ${BOSUN_SKIP_BASE:-0} != 1 ]]; then
  build_base
  build_redis_test
fi

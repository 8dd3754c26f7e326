#!/usr/bin/env bash
# Builds Bosun's own image offline: prepares .image/ (the host's Node.js binary, production
# node_modules, redis-server unpacked from Debian packages, the sources compiled to JavaScript
# by tsconfig.image.json), then `docker build` FROM the locally made base image. Idempotent;
# pass a tag as $1 (default bosun/bosun:dev).
set -euo pipefail
cd "$(dirname "$0")/.."
TAG=${1:-bosun/bosun:dev}
BASE=${BOSUN_IMAGE_BASE:-bosun/base:bookworm}
log() { echo "build-bosun-image: $*" >&2; }

docker image inspect "$BASE" >/dev/null 2>&1 || bash scripts/build-base-images.sh
mkdir -p .image
install -m 0755 "$(readlink -f "$(command -v node)")" .image/node

# Production node_modules, cached by the lock file's hash: a fresh clone (CI) reuses them.
CACHE=${BOSUN_CACHE_DIR:-/var/cache/bosun}/prod-modules-$(sha256sum package-lock.json | cut -c1-16).tar
if [[ ! -d .image/node_modules ]] || [[ package-lock.json -nt .image/node_modules ]]; then
  rm -rf .image/node_modules
  if [[ -f $CACHE ]]; then
    log "production dependencies from the cache ($CACHE)"
    tar -C .image -xf "$CACHE"
  else
    log "installing production dependencies into .image/node_modules"
    rm -rf .image/prod && mkdir -p .image/prod
    cp package.json package-lock.json .image/prod/
    # Once more after a failure: npm's extraction can trip over another npm sharing its cache
    # (seen once as TAR_ENTRY_ERROR ENOENT while other installs ran on the machine).
    (cd .image/prod && { npm ci --omit=dev --no-audit --no-fund --ignore-scripts >/dev/null \
      || { log "npm ci failed; once more with a cache of its own"; rm -rf node_modules; npm ci --cache "$PWD/.npm-cache" --omit=dev --no-audit --no-fund --ignore-scripts >/dev/null; }; })
    mv .image/prod/node_modules .image/node_modules && rm -rf .image/prod
    if mkdir -p "$(dirname "$CACHE")" 2>/dev/null; then tar -C .image -cf "$CACHE.tmp" node_modules && mv "$CACHE.tmp" "$CACHE"; fi
  fi
  touch .image/node_modules
fi

if [[ ! -x .image/redis-root/usr/bin/redis-server ]]; then
  log "unpacking redis-server and its libraries from Debian packages"
  work=$(mktemp -d)
  (cd "$work" && apt-get download redis-server redis-tools libjemalloc2 liblzf1 liblua5.1-0 lua-bitop lua-cjson libatomic1 >/dev/null)
  rm -rf .image/redis-root && mkdir -p .image/redis-root
  for deb in "$work"/*.deb; do dpkg-deb -x "$deb" .image/redis-root; done
  rm -rf "$work" .image/redis-root/etc/redis .image/redis-root/lib/systemd .image/redis-root/usr/share/doc
fi

# Every source compiled to JavaScript beside its TypeScript (copied over /app): the image's
# `bosun` then runs on plain node, never through tsx. The dev dependency typescript compiles
# here, on the host; the image holds production dependencies only.
log "compiling the sources (tsconfig.image.json)"
rm -rf .image/js
npx --no-install tsc -p tsconfig.image.json

log "building $TAG from $BASE"
docker build -q --build-arg "BASE=$BASE" -t "$TAG" . >/dev/null
echo "$TAG"

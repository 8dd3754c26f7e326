# Bosun's own image. No public registry is reachable from the machines that build it, so the
# base is a build argument naming a locally made image (scripts/build-base-images.sh makes
# bosun/base:bookworm with debootstrap), and scripts/build-bosun-image.sh prepares `.image/`:
# the Node.js binary, production node_modules, redis-server unpacked from Debian packages, and
# the sources compiled to JavaScript (`.image/js`, laid over /app beside the TypeScript), which
# bin/bosun runs with plain node.
#   docker build --build-arg BASE=bosun/base:bookworm -t bosun/bosun:dev .
ARG BASE=bosun/base:bookworm

# Stage 1: assemble /app (sources + production dependencies) and the extra binaries.
FROM ${BASE} AS build
COPY .image/node /usr/local/bin/node
COPY .image/redis-root/ /opt/redis-root/
WORKDIR /app
COPY package.json package-lock.json ./
COPY .image/node_modules ./node_modules
COPY bin ./bin
COPY commands ./commands
COPY spec-schema ./spec-schema
COPY src ./src
COPY examples ./examples
COPY tsconfig.json ./
COPY .image/js/ ./

# Stage 2: the runtime, non-root, with a health check against the API.
FROM ${BASE}
COPY --from=build /usr/local/bin/node /usr/local/bin/node
COPY --from=build /opt/redis-root/usr/ /usr/
COPY --from=build /app /app
RUN mkdir -p /data && chown 1000:1000 /data && ln -s /app/bin/bosun /usr/local/bin/bosun
USER 1000:1000
WORKDIR /app
ENV BOSUN_DATA_DIR=/data BOSUN_HOST=0.0.0.0 BOSUN_PORT=8080 HOME=/data
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.BOSUN_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/app/bin/bosun"]
CMD ["start"]

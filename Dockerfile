# icx as a container image: a build stage with the toolchain, then a slim
# Debian runtime with only the libraries icx links, a non-root user and icx
# as the entry point. The asset scripts are built into the binary, so the
# runtime needs nothing beside it.
#
#   docker build -t icx .
#   docker run --rm -e INTERCOM_ACCESS_TOKEN -v "$PWD/connections.yml:/etc/icx/connections.yml:ro" \
#     icx run --config /etc/icx/connections.yml --dest jsonl:- contacts
#
# The package lists are the Makefile's DEB_PKGS (build) and RUNTIME_PKGS
# (runtime); `make image-test` (tests/image/image.t) checks they agree, builds
# both stages from Debian packages with mmdebstrap and runs this image's icx
# against the simulator.
ARG DEBIAN=bookworm

FROM debian:${DEBIAN}-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc make pkg-config liblua5.4-dev lua-cjson-dev libcurl4-openssl-dev libyaml-dev libsqlite3-dev libdeflate-dev libpq-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make clean && make && make install PREFIX=/usr/local DESTDIR=/out

FROM debian:${DEBIAN}-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends liblua5.4-0 lua-cjson libcurl4 libyaml-0-2 libsqlite3-0 libdeflate0 libpq5 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/usr/local/ /usr/local/
RUN useradd --system --create-home --home-dir /home/icx --uid 10001 --user-group icx
USER icx
WORKDIR /home/icx
ENTRYPOINT ["/usr/local/bin/icx"]
CMD ["help"]

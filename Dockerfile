# The `sluice:dev` image the topologies in topologies/ use for Sluice, its
# BIRD access points and plain hosts (FRR nodes use FRR's own image), so
# that containerlab can deploy them with Docker:
#
#   docker build -t sluice:dev .
#   sudo containerlab deploy -t topologies/dual-iap/dual-iap.clab.yml
#
# Without Docker, `sluice lab up` runs the same files on network namespaces.
FROM rust:1.95-bookworm AS build
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends clang llvm libbpf-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p sluice -p sluice-bench \
 && install -m 0755 target/release/sluice target/release/fulltable /usr/local/bin/

FROM debian:bookworm-slim
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends bird2 iproute2 iputils-ping procps \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/bin/sluice /usr/local/bin/fulltable /usr/local/bin/
# containerlab runs the topology's `exec` commands, then this; the
# `sluice.run` label says what `sluice lab` starts instead.
CMD ["sleep", "infinity"]

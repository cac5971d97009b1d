# zone-agent's image: `docker build -t zone-agent:0.1.0 .` where a container engine runs. Where none does, `make
# image` builds the same image (a Debian root file system with libsodium and this binary, uid 65532) as an OCI
# archive, and checks it (scripts/image.sh).

# The build: a release binary with the Swift runtime and Foundation linked in (--static-swift-stdlib), stripped,
# so the runtime image needs no Swift toolchain and processes share no Swift libraries they do not use.
FROM swift:6.3.1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libsodium-dev pkg-config && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
COPY linker ./linker
# The Makefile's RELEASE_FLAGS: each function in a section of its own, the code an agent runs placed together (fewer
# of the binary's pages mapped in each process; Makefile, README "Measured here").
RUN swift build -c release --product zone-agent --static-swift-stdlib \
      -Xswiftc -Xfrontend -Xswiftc -function-sections -Xcc -ffunction-sections \
      -Xlinker --symbol-ordering-file=/src/linker/startup-order.txt -Xlinker --no-warn-symbol-ordering \
      -Xlinker --no-export-dynamic -Xlinker --strip-all \
    && install -m 0755 .build/release/zone-agent /usr/local/bin/zone-agent

# The runtime: Debian with libsodium and nothing else the binary needs; a read-only root file system works (the
# process writes only to the volumes its configuration names, such as Envoy's EDS folder).
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libsodium23 && rm -rf /var/lib/apt/lists/* \
    && echo 'nonroot:x:65532:65532:zone-agent:/nonexistent:/usr/sbin/nologin' >> /etc/passwd \
    && echo 'nonroot:x:65532:' >> /etc/group
COPY --from=build /usr/local/bin/zone-agent /usr/local/bin/zone-agent
USER 65532:65532
EXPOSE 7946/udp 7946/tcp 9101/tcp 8001/tcp
ENTRYPOINT ["/usr/local/bin/zone-agent"]
CMD ["--help"]

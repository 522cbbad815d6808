# syntax=docker/dockerfile:1
# bedrock-exporter: build with the official Rust image, run on distroless as a non-root user.
# Each release tag publishes it for linux/amd64 and linux/arm64 as
# ghcr.io/bedrock-exporter/bedrock-exporter:VERSION (.github/workflows/release.yml). To build your own:
#   docker build -t bedrock-exporter:0.1.0 .
#   docker run --rm -p 10025:10025 bedrock-exporter:0.1.0 --demo
#   docker run --rm -p 10025:10025 -v "$PWD/config.yaml:/etc/bedrock-exporter/config.yaml:ro" \
#     -e AWS_REGION -e AWS_ACCESS_KEY_ID -e AWS_SECRET_ACCESS_KEY -e AWS_SESSION_TOKEN bedrock-exporter:0.1.0

FROM rust:1.95-bookworm AS build
WORKDIR /src
# build.rs takes the revision for bedrock_exporter_build_info from here when .git is not sent.
ARG REVISION=unknown
ENV BEDROCK_EXPORTER_REVISION=${REVISION}
COPY . .
# The same command CI runs (scripts/check-deploy.sh builds and tests this binary). The caches
# keep the registry and target directory between builds; the binary is copied out of them.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin bedrock-exporter \
    && cp target/release/bedrock-exporter /usr/local/bin/bedrock-exporter

# distroless cc: glibc and libgcc, CA certificates, no shell. "nonroot" is uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /usr/local/bin/bedrock-exporter /usr/local/bin/bedrock-exporter
USER 65532:65532
EXPOSE 10025
ENTRYPOINT ["/usr/local/bin/bedrock-exporter"]
CMD ["--config.file=/etc/bedrock-exporter/config.yaml"]

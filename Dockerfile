# burnrate as a small static image: a musl build of the release binary on
# scratch, with the CA certificates for https:// exporters, running as a
# non-root user. docs/kubernetes.md describes how to build and publish it.

FROM rust:1.95-alpine AS build
# ring compiles C and assembly, which needs the musl headers. The packages
# come from the Alpine release of the base image.
# hadolint ignore=DL3018
RUN apk add --no-cache musl-dev ca-certificates
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY config ./config
COPY pricing ./pricing
COPY rules ./rules
RUN cargo build --release --locked \
    && cp target/release/burnrate /burnrate

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /burnrate /burnrate
# The uid and gid of the Helm chart's securityContext; a numeric user lets
# Kubernetes check runAsNonRoot without an /etc/passwd.
USER 65532:65532
EXPOSE 4317 4318 9464 13133
ENTRYPOINT ["/burnrate"]
CMD ["run"]

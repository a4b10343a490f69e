# The operator's image, for users with a container engine (make image builds the same image
# without one). The version comes from git:
#   docker build --build-arg VERSION="$(git describe --tags --always --dirty)" -t zerotrust-operator:"$(git describe --tags --always --dirty)" .
FROM --platform=$BUILDPLATFORM golang:1.26 AS builder
ARG TARGETOS=linux
ARG TARGETARCH
ARG VERSION
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN test -n "$VERSION" && test "$VERSION" != latest || { echo "set --build-arg VERSION from git (not latest)"; exit 1; }
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w -X main.version=$VERSION" -o /out/manager .

FROM gcr.io/distroless/static:nonroot
ARG VERSION
LABEL org.opencontainers.image.source="https://github.com/zerotrust-dev/zerotrust-operator" \
      org.opencontainers.image.version="$VERSION"
COPY --from=builder /out/manager /manager
USER 65532:65532
ENTRYPOINT ["/manager"]

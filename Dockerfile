# Multi-stage build of the one turnstile binary.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The lake's s3:// and gs:// drivers are always linked (datalake/cloud.go): no
# build tag; the compose stack writes the lake to MinIO over s3://.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/turnstile ./cmd/turnstile

# Small, non-root final image.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/turnstile /usr/local/bin/turnstile
USER nonroot:nonroot
WORKDIR /var/lib/turnstile
ENTRYPOINT ["/usr/local/bin/turnstile"]

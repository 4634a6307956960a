# Multi-stage build of tandem's binaries into one small static image:
#   /tandem/worker, /tandem/starter, /tandem/webcrm-sim, /tandem/customerp-sim
# docker build -t tandem .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ENV CGO_ENABLED=0
RUN go build -trimpath -ldflags="-s -w" -o /out/worker ./worker \
 && go build -trimpath -ldflags="-s -w" -o /out/starter ./starter \
 && go build -trimpath -ldflags="-s -w" -o /out/webcrm-sim ./simulators/webcrm \
 && go build -trimpath -ldflags="-s -w" -o /out/customerp-sim ./simulators/customerp

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /tandem/
USER nonroot:nonroot
ENTRYPOINT ["/tandem/worker"]

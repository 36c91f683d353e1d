# Debian 12 with the same Makefile as a developer machine: Debian's Python 3.11, MapServer and mapscript.
FROM debian:bookworm-slim
ENV DEBIAN_FRONTEND=noninteractive GRUNNDATA_HOST=0.0.0.0 GRUNNDATA_PORT=8000 \
    GRUNNDATA_PUBLIC_URL=http://127.0.0.1:8000
RUN apt-get update && apt-get install -y --no-install-recommends make ca-certificates && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . .
# Serving only: the QGIS and Chromium test clients are left out of the image.
RUN make deps APT_PKGS="python3 python3-venv python3-dev build-essential cgi-mapserver mapserver-bin \
      python3-mapscript gdal-bin fonts-dejavu-core ca-certificates npm" \
 && make data && rm -rf /var/lib/apt/lists/*
EXPOSE 8000
CMD [".venv/bin/grunndata", "serve"]

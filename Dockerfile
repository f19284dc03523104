# Bedside on Debian 12 with Python 3.11. The same install script as a bare machine.
FROM python:3.11-slim-bookworm
WORKDIR /opt/bedside
COPY . .
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends make && \
    PYTHON=python3.11 scripts/install.sh && rm -rf /var/lib/apt/lists/*
EXPOSE 5060/udp 5060/tcp 40000-40199/udp
ENTRYPOINT [".venv/bin/bedside"]
CMD ["serve", "--sip-host", "0.0.0.0"]

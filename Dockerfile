# Coral: one image for the colony (default command) and the agent.
# Build:  docker build -t coral/colony .
# Run:    see docs/deploy.md ("Containers") for the colony and agent `docker run` lines.
# BASE is the pinned Python image both stages start from; where no registry is reachable,
# `--build-arg BASE=` names a local stand-in (scripts/debian_base_image.sh makes one).
ARG BASE=python:3.11.7-slim-bookworm

# --- build stage: a virtual environment with Coral and its pinned dependencies --------
FROM ${BASE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# The exact versions `make` installs and tests, in a layer of their own that a change
# to Coral's code does not rebuild.
COPY requirements.lock ./
RUN python -m venv /opt/coral \
    && /opt/coral/bin/pip install --no-compile -r requirements.lock
COPY pyproject.toml README.md ./
COPY coral_mcp ./coral_mcp
# pip and setuptools are not needed at run time (26 MB), nor numpy's own tests (8 MB).
RUN /opt/coral/bin/pip install --no-compile --no-deps . \
    && /opt/coral/bin/pip uninstall --yes pip setuptools \
    && find /opt/coral/lib/python3.11/site-packages/numpy -type d -name tests -prune \
       -exec rm -rf {} + \
    && find /opt/coral -name '__pycache__' -prune -exec rm -rf {} +

# --- runtime stage: the interpreter, the environment, an unprivileged user -------------
FROM ${BASE}
LABEL org.opencontainers.image.title="coral" \
      org.opencontainers.image.description="Coral colony and agent" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 coral \
    && useradd --system --uid 10001 --gid coral --home-dir /var/lib/coral \
       --shell /usr/sbin/nologin coral \
    && mkdir -p /var/lib/coral \
    && chown coral:coral /var/lib/coral \
    && chmod 0700 /var/lib/coral
COPY --from=build /opt/coral /opt/coral
ENV PATH=/opt/coral/bin:$PATH \
    CORAL_HOME=/var/lib/coral \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
WORKDIR /var/lib/coral
VOLUME ["/var/lib/coral"]
# 9001 join (TLS), 9002 agents' gRPC (mutual TLS), 9010 REST + MCP (bearer token)
EXPOSE 9001 9002 9010
ENTRYPOINT ["coral"]
CMD ["colony", "start", "--data-dir", "/var/lib/coral", "--http-host", "0.0.0.0", "--tunnel", "none"]

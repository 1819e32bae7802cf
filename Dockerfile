# One image for both sides; the compose file picks the command.
# Build stage: wheels and their dependencies into a virtualenv (compilers stay here).
FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/secmon
COPY pyproject.toml README.md ./
COPY agent agent
COPY server server
COPY wire wire
COPY cli cli
COPY demo demo
COPY configfile configfile
COPY simulate simulate
# The compose file's simulated site builds with EXTRAS=sim (the agent's libraries and snmpsim).
ARG EXTRAS=agent,server
RUN /opt/secmon/bin/pip install --no-cache-dir ".[${EXTRAS}]"

# Runtime stage: the virtualenv only, run as an unprivileged user.
FROM python:3.11-slim
RUN useradd --system --home-dir /var/lib/secmon --shell /usr/sbin/nologin secmon \
    && install -d -o secmon -g secmon -m 0750 /var/lib/secmon
COPY --from=build /opt/secmon /opt/secmon
ENV PATH=/opt/secmon/bin:$PATH PYTHONUNBUFFERED=1
USER secmon
WORKDIR /var/lib/secmon
EXPOSE 8000 9108
CMD ["secmon", "server", "run", "--host", "0.0.0.0", "--port", "8000"]

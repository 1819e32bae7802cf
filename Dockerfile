# One image for both sides; the compose file picks the command.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY agent agent
COPY server server
COPY wire wire
COPY cli cli
COPY demo demo
COPY configfile configfile
RUN pip install --no-cache-dir '.[agent,server]'
ENV PYTHONUNBUFFERED=1
EXPOSE 8000 9108
CMD ["secmon", "server", "run", "--host", "0.0.0.0", "--port", "8000"]

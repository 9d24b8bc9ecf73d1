FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm gcc make && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . .
RUN make install
ENV PATH="/app/.venv/bin:${PATH}"

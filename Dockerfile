# Firebreak (and the demo service, which runs from the same image):
#   docker build -t firebreak .
#   docker run -p 127.0.0.1:9095:9095 -v "$PWD/firebreak.yml:/etc/firebreak/firebreak.yml:ro" firebreak
FROM python:3.12.7-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# Dependencies first, so a change to the code does not reinstall them: exactly the pinned
# releases (make lock), each checked against its hash.
COPY requirements/build.lock requirements/runtime.lock requirements/
RUN pip install --require-hashes -r requirements/build.lock \
    && pip install --require-hashes -r requirements/runtime.lock
COPY setup.cfg pyproject.toml README.md ./

COPY receiver receiver
COPY examples examples
# Built with the pinned setuptools and wheel of build.lock: nothing fetched unpinned.
RUN pip install --no-deps --no-build-isolation --force-reinstall . \
    && useradd --system --uid 10001 --home-dir /var/lib/firebreak --create-home firebreak \
    && mkdir -p /etc/firebreak

USER firebreak
EXPOSE 9095
# No curl in the slim image; Python is there anyway.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9095/health', timeout=4)"]
CMD ["firebreak", "serve", "--config", "/etc/firebreak/firebreak.yml"]

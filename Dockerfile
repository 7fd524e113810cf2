# Croc Hunter, the app under test, as an image for the kind platform.
#   docker build -t croc-hunter:v1 .        (from the repository root)
#   kind load docker-image croc-hunter:v1
# Only the app and what it imports go in: progressive/__init__.py, progressive/errors.py and
# progressive/app/. Knobs come from the environment in a pod (WORKFLOW_RELEASE, GIT_SHA,
# POWERED_BY, CROC_VERSION, CROC_ERROR_RATE, CROC_LATENCY_MS, CROC_CRASH_AFTER, CROC_NEVER_READY).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The app's only dependencies, pinned as in pyproject.toml.
RUN pip install aiohttp==3.14.5 prometheus-client==0.26.0 \
    && useradd --system --uid 10001 --user-group --no-create-home croc

WORKDIR /srv
COPY progressive/__init__.py progressive/errors.py progressive/
COPY progressive/app/ progressive/app/

# Numeric, so that Kubernetes' runAsNonRoot can check it.
USER 10001:10001
EXPOSE 8080

# In a pod the app must listen on the pod IP (the kubelet's probes and the mesh sidecar reach it
# there), so it binds all interfaces. This is the only place 0.0.0.0 is used: everywhere else
# (tests, the local platform) the app binds 127.0.0.1, its default.
# Python runs as PID 1 and handles SIGTERM itself: stop accepting, drain, exit 0.
CMD ["python", "-m", "progressive.app", "--host", "0.0.0.0", "--port", "8080"]

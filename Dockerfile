# The controller image: `failoverctl` as the entry point, non-root, no build tools.
#   make image      (docker build, tagged with the version in controller/__init__.py)
# It holds exactly the runtime versions of uv.lock, checked against the lock's hashes, so
# an image built today runs what the tests ran, not whatever is newest on build day.
# Pin the base by digest in your registry for reproducible builds.
FROM python:3.11-slim-bookworm AS build
# The Makefile's UV_VERSION (`make image` passes it; a test keeps the default in step).
ARG UV_VERSION=0.13.10
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
WORKDIR /src
COPY pyproject.toml uv.lock README.md ./
COPY config config
COPY controller controller
COPY probes probes
# --frozen: export the lock as it is, never re-resolve; the project itself goes in as a
# wheel built from this source, with no dependencies of its own.
RUN mkdir /wheels \
 && uv export --frozen --no-dev --no-emit-project --output-file /wheels/requirements.txt \
 && pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
RUN groupadd --system --gid 10001 failover \
 && useradd --system --uid 10001 --gid failover --no-create-home --shell /usr/sbin/nologin failover
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-compile --require-hashes --no-deps -r /wheels/requirements.txt \
 && pip install --no-cache-dir --no-compile --no-deps /wheels/*.whl \
 && pip check \
 && rm -rf /wheels
USER 10001:10001
ENV PYTHONUNBUFFERED=1
EXPOSE 8080
ENTRYPOINT ["failoverctl"]
CMD ["run", "-c", "/etc/failover/config.yaml"]

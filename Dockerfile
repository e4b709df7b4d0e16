# The controller image: `failoverctl` as the entry point, non-root, no build tools.
#   docker build -t failover-controller:0.1.0 .
# Pin the base by digest in your registry for reproducible builds.
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY config config
COPY controller controller
COPY probes probes
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
RUN groupadd --system --gid 10001 failover \
 && useradd --system --uid 10001 --gid failover --no-create-home --shell /usr/sbin/nologin failover
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-compile /wheels/*.whl && rm -rf /wheels
USER 10001:10001
ENV PYTHONUNBUFFERED=1
EXPOSE 8080
ENTRYPOINT ["failoverctl"]
CMD ["run", "-c", "/etc/failover/config.yaml"]

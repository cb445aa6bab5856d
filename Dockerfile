# fabric-intent: the reconciler service image (`fabric-intent run`), see docs/operations.md.
#   docker build -t fabric-intent:0.1.0 .
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY intent ./intent
COPY drivers ./drivers
COPY reconciler ./reconciler
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN groupadd --gid 10001 fabric && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin fabric
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels fabric-intent && rm -rf /wheels
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
EXPOSE 9100
ENTRYPOINT ["fabric-intent"]
CMD ["run", "--fabric", "/etc/fabric-intent/fabric.yaml"]

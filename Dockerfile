# Overlap on Airflow: the official image plus Overlap, installed against the image's own pins.
# Build: docker compose build   (see docker-compose.yml and docs/airflow.md; no registry at hand:
# scripts/build-base-image.sh builds a local stand-in for the base image)
ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.11
FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}
# Set only when the build reaches PyPI through a TLS-inspecting proxy (a CA bundle mounted into
# the build: scripts/compose-check.sh); build arguments are not kept in the image's environment.
ARG PIP_CERT
ARG SSL_CERT_FILE

# Everything Overlap writes (warehouse, staging, reports, the sandbox organisation) lives on the
# overlap-data volume mounted here. The directory exists in the image, owned by the airflow user
# (50000) and group 0 with group write (every service runs as ${AIRFLOW_UID}:0), so a new named
# volume copies that owner and mode and every path deploy/config/README.md suggests is writable.
# simple-auth holds the login passwords file that airflow-init writes (docker-compose.yml).
USER root
RUN mkdir -p /opt/overlap-data/config /opt/overlap-data/warehouse /opt/overlap-data/staging \
        /opt/overlap-data/reports /opt/overlap-data/sandbox /opt/airflow/simple-auth \
 && chown -R 50000:0 /opt/overlap-data /opt/airflow/simple-auth \
 && chmod -R 2775 /opt/overlap-data \
 && chmod 2770 /opt/airflow/simple-auth
USER airflow

WORKDIR /opt/overlap
COPY --chown=airflow:0 pyproject.toml uv.lock README.md ./
COPY --chown=airflow:0 connectors ./connectors
COPY --chown=airflow:0 overlap ./overlap
COPY --chown=airflow:0 reports ./reports
COPY --chown=airflow:0 sql ./sql
COPY --chown=airflow:0 sandbox ./sandbox
COPY --chown=airflow:0 deploy/image-requirements.py /tmp/image-requirements.py
# Overlap is installed against the image, not over it. The image's packages (Airflow, its
# providers and their pins: protobuf, httpx, uvicorn, tenacity, websockets, ...) must stay
# exactly as the image ships them, or `pip check` fails for the image's own extras. So:
#  1. the constraints: the file the image was built with (${AIRFLOW_USER_HOME_DIR}/constraints.txt)
#     plus `pip freeze` of what is installed, so nothing installed can move;
#  2. uv.lock's pins only for the packages the image neither has nor constrains
#     (deploy/image-requirements.py drops the others: they keep the image's versions);
#  3. one `pip install` of Overlap with its dependencies under those constraints: a locked
#     version that the image's pins cannot satisfy fails the build here, not at run time;
#  4. `pip check` proves the environment consistent, and a second `pip freeze` that no package
#     of the image changed.
RUN uv export --frozen --no-dev --no-emit-project --no-hashes --format requirements-txt \
        -o /tmp/locked.txt \
 && pip freeze --all > /tmp/installed.txt \
 && python /tmp/image-requirements.py /tmp/locked.txt /tmp/installed.txt \
        "${AIRFLOW_USER_HOME_DIR}/constraints.txt" \
        --constraints-out /tmp/image-constraints.txt > /tmp/overlap-requirements.txt \
 && pip install --no-cache-dir --constraint /tmp/image-constraints.txt \
        -r /tmp/overlap-requirements.txt . \
 && pip check \
 && pip freeze --all > /tmp/after.txt \
 && if grep -Fxv -f /tmp/after.txt /tmp/installed.txt; then \
        echo "the image's packages above changed" >&2; exit 1; fi \
 && rm /tmp/locked.txt /tmp/installed.txt /tmp/after.txt /tmp/image-constraints.txt \
        /tmp/overlap-requirements.txt /tmp/image-requirements.py
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
COPY --chown=airflow:0 plugins/ /opt/airflow/plugins/

ENV OVERLAP_CONFIG=/opt/overlap-data/config/overlap.toml \
    OVERLAP_TIMEZONE=UTC
WORKDIR /opt/airflow

# CPU image of PharmaTune. The builtin model is converted and the bundled data sets are built at build time,
# so the container starts offline.
#   docker build -t pharmatune . && docker run -p 7860:7860 pharmatune
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PHARMATUNE_CACHE=/app/cache \
    PHARMATUNE_RUNS=/app/runs \
    PHARMATUNE_DATA=/app/datasets \
    HF_HUB_OFFLINE=1 \
    GRADIO_SERVER_NAME=0.0.0.0 \
    GRADIO_SERVER_PORT=7860

RUN useradd --create-home --uid 1000 pharmatune
WORKDIR /app

# The CPU build of torch comes from PyTorch's CPU index (PyPI's default Linux wheel pulls GBs of CUDA libraries).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
COPY requirements.txt requirements-nodeps.txt constraints.txt ./
RUN pip install --index-url "$TORCH_INDEX_URL" torch==2.13.0 \
 && pip install -c constraints.txt -r requirements.txt \
 && pip install --no-deps -r requirements-nodeps.txt

COPY --chown=pharmatune:pharmatune . .
RUN python -m models prepare \
 && python -m data build-bundled \
 && mkdir -p /app/runs \
 && chown -R pharmatune:pharmatune /app/cache /app/runs /app/datasets

USER pharmatune
EXPOSE 7860
CMD ["python", "app.py"]

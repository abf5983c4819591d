# kgrel API image. CPU by default; build with --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu124
# (and run with a GPU) for CUDA.
FROM python:3.11-slim
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 KGREL_DATA_DIR=/data
WORKDIR /app
RUN pip install "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX}"
COPY pyproject.toml README.md ./
COPY app app
COPY kg kg
COPY models models
COPY data data
RUN pip install .
VOLUME /data
EXPOSE 8000
CMD ["kgrel", "serve", "--host", "0.0.0.0", "--port", "8000", "--load-demo"]

# clhoi on an NVIDIA GPU. The CUDA 13 user-space libraries come with PyPI's torch 2.14.1 wheels
# (the nvidia-* packages); the driver comes from the host through the NVIDIA container toolkit.
#   docker build -t clhoi .
#   docker run --gpus all -v $PWD/data:/work/data -v $PWD/runs:/work/runs \
#       -v ~/.cache/huggingface:/root/.cache/huggingface clhoi train configs/table1_hicodet_rn50.yaml
# Not built on the project machines (no Docker, no GPU there); its pip step is the install CI runs.
FROM python:3.11-slim-bookworm

ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 \
    NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility

WORKDIR /work
COPY pyproject.toml README.md LICENSE ./
COPY constraints ./constraints
COPY clhoi ./clhoi
COPY configs ./configs
# constraints/ci.txt: the versions CI tests; the extras add real DETR checkpoints (timm) and TensorBoard
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install -c constraints/ci.txt ".[timm,tensorboard]"
ENV PATH=/opt/venv/bin:$PATH

ENTRYPOINT ["clhoi"]
CMD ["--help"]

#!/usr/bin/env bash
# Install the lowest versions pyproject.toml allows (constraints/lowest.txt) into a side venv and run a
# smoke subset of the tests there. Usage: benchmarks/check_lowest.sh [pytest args]
#   VENV=/tmp/clhoi-lowest  where the side venv goes (recreated)
#   PYTHON=python3.11       the interpreter
#   REUSE=1                 install into the existing side venv instead of a fresh one
# It never touches the project's .venv. Record what it printed in benchmarks/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-/tmp/clhoi-lowest}
PYTHON=${PYTHON:-python3.11}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 OMP_NUM_THREADS=1
if [ "${REUSE:-0}" = 1 ] && [ -x "$VENV/bin/python" ]; then  # REUSE=1: adjust an existing side venv (faster)
  . "$VENV/bin/activate"
else
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  . "$VENV/bin/activate"
fi
start=$(date +%s)
# non-editable: the side venv gets its own copy; PIP_CONSTRAINT adds to a machine-wide constraint file
PIP_CONSTRAINT="$PWD/constraints/lowest.txt" pip install -q --force-reinstall --no-deps ".[test]"
PIP_CONSTRAINT="$PWD/constraints/lowest.txt" pip install -q ".[test]"  # the dependencies, at their lowest
echo "install: $(( $(date +%s) - start )) s"
pip freeze --exclude-editable | grep -iE '^(torch|torchvision|transformers|safetensors|accelerate|numpy|scipy|pillow|pyyaml|typer|click|rich|lemminflect|orjson|pytest|hypothesis|huggingface.hub)=='
python --version
# the smoke subset: vocab/config, the student, training end to end, the evaluator, detections, logging, the CLI
python -m pytest -q -x -p no:cacheprovider \
  tests/test_vocab_config.py tests/models/test_models_student.py tests/engine/test_engine_e2e.py \
  tests/eval/test_eval_hicodet.py tests/detect/test_detect_files.py tests/detect/test_detect_formats.py \
  tests/eval/test_eval_export.py tests/test_logs.py tests/engine/test_engine_logging.py "$@"

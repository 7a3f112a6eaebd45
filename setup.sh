#!/usr/bin/env bash
# One-command setup: a virtual environment in .venv, PyTorch, this package in editable mode with
# its C++ kernel modules compiled, the data the katas read, and then the curriculum board.
#
#   ./setup.sh                     everything, data fetched from the internet
#   ./setup.sh --from DIR          data copied/linked from a prepared local directory instead
#
# Environment: PYTHON (default python3), VENV (default .venv). PyTorch comes from pip's usual
# index at the version in requirements-torch.txt; for a CPU-only build on a machine without a
# GPU, export PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu first.
set -euo pipefail
cd "$(dirname "$0")"

python=${PYTHON:-python3}
venv=${VENV:-.venv}

"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "setup.sh: Python 3.11 or newer is needed ($python is $("$python" --version))" >&2; exit 1; }

[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip install --quiet)

echo "==> PyTorch ($(cat requirements-torch.txt))"
"${pip[@]}" -r requirements-torch.txt
echo "==> build tools for the kernels (scikit-build-core, pybind11, cmake, ninja)"
"${pip[@]}" "scikit-build-core>=0.10" "pybind11>=2.12" cmake ninja
# seqeval ships only an sdist whose version comes from setuptools_scm; built without isolation
# (the next step) it gets version 0.0.0 and pip refuses it, so it is built here, isolated.
"${pip[@]}" "seqeval>=1.2.2"
echo "==> ml-refresher (editable; compiles the reference kernels, solutions/kernels/)"
# No build isolation: the build tools installed above are reused instead of fetched again.
"${pip[@]}" --no-build-isolation -e ".[dev]"

"$venv/bin/kata" setup "$@"
"$venv/bin/kata"
echo
echo "Activate the environment in your shell with:  . $venv/bin/activate"

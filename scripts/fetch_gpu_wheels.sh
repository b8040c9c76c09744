#!/usr/bin/env bash
# Download, on a machine with network, the wheels that the offline GPU machine lacks
# (Python 3.12, x86-64), into .whl/ (ignored by git, carried to the GPU machine).
# Only what running notebooks (nbval, ipykernel, ipywidgets), nbgrader's autograde and
# the Prometheus exporter (prometheus-client) need: the GPU image already has torch, numpy, pytest, requests, jinja2...
# and JupyterLab itself, Babel, debugpy and jedi are not imported by either (~38 MB less).
set -euo pipefail
cd "$(dirname "$0")/.."
PYVER="${PYVER:-3.12}"
CACHE="${CACHE:-/tmp/course-wheels-$PYVER}"
mkdir -p "$CACHE" .whl
python3 -m pip download --quiet --only-binary=:all: --python-version "$PYVER" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_26_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
    --platform manylinux_2_5_x86_64 --platform any \
    --constraint requirements.lock --dest "$CACHE" \
    nbgrader==0.9.6 nbval==0.11.0 ipykernel==6.31.0 ipywidgets==8.1.9 nbclient==0.11.0 prometheus-client==0.26.0 2>&1 \
    | { grep -v "is ignored: it is neither a file nor a directory" || true; }
# present on the GPU image (KINDS.md) or never imported by nbval/ipykernel/nbgrader autograde
SKIP='^(jupyterlab|babel|jupyter_builder|jupyterlab_server|json5|jupyter_lsp|async_lru|debugpy|jedi|parso|attrs|certifi|charset_normalizer|idna|requests|urllib3|jinja2|markupsafe|packaging|psutil|pygments|python_dateutil|pyyaml|six|typing_extensions|setuptools|pytest|pluggy|iniconfig|coverage|cffi|pycparser)-'
rm -f .whl/*.whl
for wheel in "$CACHE"/*.whl; do
    name=$(basename "$wheel")
    if ! [[ "$(echo "$name" | tr '[:upper:]' '[:lower:]')" =~ $SKIP ]]; then cp "$wheel" .whl/; fi
done
# bubblewrap (x86-64 .deb, from this Debian's archive) for the grading sandbox; gpu_validate.sh
# unpacks it with dpkg -x where the machine has no bwrap (it needs libc6, libcap2 and
# libselinux1, which Debian and Ubuntu have).
rm -f .whl/bubblewrap_*.deb
(cd .whl && apt-get download bubblewrap:amd64)
echo "$(find .whl -maxdepth 1 -name '*.whl' | wc -l) wheels, $(find .whl -maxdepth 1 -name '*.deb' | wc -l) .deb, $(du -sh .whl | cut -f1) in .whl/"

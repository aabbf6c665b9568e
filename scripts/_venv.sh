# Sourced by scripts/test and scripts/demo: make .venv and install the project
# into it with the extras given as arguments. Idempotent; quiet.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Debian's python3 ships venv/ensurepip in a separate package.
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq
        apt-get install -y -qq python3-venv
    else
        echo "python3 has no venv module: install python3-venv (apt-get install python3-venv)" >&2
        exit 1
    fi
fi

python3 -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
python -m pip install --quiet -e ".[$1]"

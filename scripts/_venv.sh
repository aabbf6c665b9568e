# Sourced by the scripts: make a virtual environment (.venv, or $VENV if set) and install
# the project into it, editable, with the extras named by the first argument and the
# dependency group named by the optional second (the tools of [dependency-groups], which pip
# reads from 25.1 on); any further arguments go to pip. Idempotent; quiet.
# Usage: . scripts/_venv.sh EXTRAS [GROUP [PIP OPTIONS...]]
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

python3 -m venv "${VENV:-.venv}"
. "${VENV:-.venv}/bin/activate"
python -m pip install --quiet --upgrade 'pip>=25.1'
python -m pip install --quiet -e ".[$1]" ${2:+--group "$2"} "${@:3}"

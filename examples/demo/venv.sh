# Sourced by examples/demo/run.sh and .ci/run: create a virtualenv and pip into it on a
# machine that has nothing but Python 3.11+.
#
#   VENV=.venv PYTHON3=python3 die=... ; . examples/demo/venv.sh; make_venv; venv_pip install ...
#
# Debian and Ubuntu ship python3 without ensurepip unless python3-venv is installed:
# `python3 -m venv` then fails after making a venv without pip. make_venv keeps (or
# makes, with --without-pip) that venv, and venv_pip brings pip into it from a pip
# wheel that the system's pip downloads from PyPI. With neither ensurepip nor a system
# pip, the message says what to install.

make_venv() {
  [ -x "$VENV/bin/python" ] && return
  "$PYTHON3" -m venv "$VENV" 2>/dev/null && return
  [ -x "$VENV/bin/python" ] || "$PYTHON3" -m venv --without-pip "$VENV" ||
    die "$PYTHON3 -m venv failed. Debian/Ubuntu: sudo apt-get install python3-venv"
}

venv_pip() {
  local py="$VENV/bin/python" wheels wheel
  if ! "$py" -m pip --version >/dev/null 2>&1; then
    "$PYTHON3" -m pip --version >/dev/null 2>&1 ||
      die "$VENV has no pip and $PYTHON3 has none to lend. Debian/Ubuntu: sudo apt-get install python3-venv"
    wheels=$(mktemp -d)
    "$PYTHON3" -m pip -q --disable-pip-version-check download --no-deps -d "$wheels" pip
    wheel=$(ls "$wheels"/pip-*.whl)
    "$py" "$wheel/pip" -q --disable-pip-version-check install --no-index "$wheel"
    rm -rf "$wheels"
  fi
  "$py" -m pip -q --disable-pip-version-check "$@"
}

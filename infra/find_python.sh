#!/usr/bin/env sh
# Prints the path of a CPython X.Y interpreter that runs (find_python.sh 3.13), or fails
# saying where it looked. A pyenv shim on PATH may exist without running (the version is not
# selected), so each candidate is run before it is chosen; pyenv's own versions come next,
# the newest patch release first.
set -u
want="${1:?usage: find_python.sh X.Y}"
root="$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")"
for candidate in "$(command -v "python$want" 2>/dev/null)" \
    $(ls -d "$root"/versions/"$want".*/bin/python"$want" 2>/dev/null | sort -rV); do
  if [ -n "$candidate" ] && "$candidate" -c "import sys; sys.exit(sys.version_info[:2] != tuple(map(int, '$want'.split('.'))))" \
      2>/dev/null; then
    echo "$candidate"
    exit 0
  fi
done
echo "no working python$want: not on PATH, nor in $root/versions/$want.*" >&2
exit 1

#!/usr/bin/env bash
# Make this machine ready to run Greenlight: system programs, Python 3.12+, a virtual
# environment with the project installed. Safe to run again; it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1;32m==>\033[0m %s\n' "$*"; }

need_apt=()
# Debian's ffmpeg package carries both programs.
{ command -v ffmpeg && command -v ffprobe; } >/dev/null || need_apt+=(ffmpeg)
command -v espeak-ng >/dev/null || need_apt+=(espeak-ng)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need_apt+=(fonts-dejavu-core)
# Japanese, Chinese and Korean shot text needs a CJK font, or the animatic draws empty boxes.
command -v fc-list >/dev/null && fc-list :lang=ja | grep -q . || need_apt+=(fonts-noto-cjk fontconfig)
if [ "${GREENLIGHT_BROWSER:-0}" = "1" ]; then
  command -v chromium >/dev/null || need_apt+=(chromium)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  say "Installing system packages: ${need_apt[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends \
    "${need_apt[@]}" >/dev/null
fi

find_python() {
  local candidate
  for candidate in python3.13 python3.12 python3; do
    if command -v "$candidate" >/dev/null &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
      command -v "$candidate"; return 0
    fi
  done
  if command -v pyenv >/dev/null; then
    for candidate in "$(pyenv root)"/versions/3.1[2-9]*/bin/python3; do
      [ -x "$candidate" ] && { echo "$candidate"; return 0; }
    done
  fi
  return 1
}

if [ ! -x .venv/bin/python ]; then
  python=$(find_python) || { echo "Greenlight needs Python 3.12 or newer" >&2; exit 1; }
  say "Creating .venv with $python"
  "$python" -m venv .venv
fi

stamp=.venv/.greenlight-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  say "Installing Greenlight and its dependencies into .venv"
  log=$(mktemp)
  if ! { .venv/bin/python -m pip install --upgrade pip &&
         .venv/bin/python -m pip install -e '.[dev]'; } >"$log" 2>&1; then
    tail -40 "$log" >&2; echo "pip install failed (full log: $log)" >&2; exit 1
  fi
  rm -f "$log"
  echo "$want" > "$stamp"
fi
mkdir -p var

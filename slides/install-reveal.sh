#!/bin/sh
# Installs the reveal.js pinned in slides/package-lock.json into slides/node_modules (git-ignored), for `make slides`.
# `make prepare` runs it. It needs npm and the registry once; afterwards it leaves a matching install alone, so
# running `make prepare` again in a room without internet never removes what is there.
set -eu
cd "$(dirname "$0")"
if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
  echo "prepare: npm not found, so reveal.js for \`make slides\` is not installed (instructors only)"
  exit 0
fi
want=$(node -p 'require("./package-lock.json").packages["node_modules/reveal.js"].version')
have=$(node -p 'require("./node_modules/reveal.js/package.json").version' 2>/dev/null || true)
if [ "$have" = "$want" ]; then
  echo "prepare: reveal.js $have is installed"
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error --prefer-offline
echo "prepare: reveal.js $want installed in slides/node_modules"

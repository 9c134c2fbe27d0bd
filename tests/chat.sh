#!/usr/bin/env bash
# The chat example (build/chat_server, examples-c/web) in a browser:
# - tests/chat/client.test.js: websocket-client.js's pieces that need no
#   browser (backoff, queue, events, close code names), under `node --test`;
# - tests/chat/browser.js: two headless Chromium pages, driven with Playwright
#   (playwright-core, the version pinned in tests/chat/package-lock.json,
#   installed here with `npm ci`), chat; chat_server is killed and started
#   again on the same port; both pages reconnect and chat again.
#
# Skipped (exit 0, saying so) when Node.js, npm or Chromium is not installed;
# .ci/run installs them.
set -uo pipefail
cd "$(dirname "$0")/.."

CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "chat test skipped: $tool is not installed (apt-get install nodejs npm)"
    exit 0
  fi
done
if [[ -z $CHROMIUM ]]; then
  echo "chat test skipped: chromium is not installed (apt-get install chromium)"
  exit 0
fi

(cd tests/chat && npm ci --no-audit --no-fund --loglevel=error) || { echo "FAIL - npm ci in tests/chat"; exit 1; }
node --test --test-reporter=spec tests/chat/client.test.js || exit 1
timeout 90 node tests/chat/browser.js "$CHROMIUM"

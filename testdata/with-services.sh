#!/usr/bin/env bash
# with-services.sh CMD...: runs CMD with the test tools installed (chromium,
# qemu-user-static: testdata/apt-install.sh) and the test services up — a real
# PostgreSQL + PostgREST (testdata/postgrest/env.sh) and a real Centrifugo
# server (testdata/centrifugo/env.sh) — each installed once per machine, started
# on loopback in a temporary directory, and torn down when CMD ends. Their
# addresses reach the tests as KICKWATCH_TEST_* environment variables.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kickwatch-test.XXXXXX")
chmod 755 "$tmp"
cleanup() {
	"$root/testdata/centrifugo/env.sh" stop "$tmp/centrifugo" >/dev/null 2>&1 || true
	"$root/testdata/postgrest/env.sh" stop "$tmp/postgrest" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "== test tools: chromium, qemu-user-static"
"$root/testdata/apt-install.sh" chromium=/usr/bin/chromium qemu-user-static=/usr/bin/qemu-aarch64-static

echo "== test services: PostgreSQL + PostgREST"
"$root/testdata/postgrest/env.sh" install
"$root/testdata/postgrest/env.sh" start "$tmp/postgrest"
set -a; . "$tmp/postgrest/env"; set +a

echo "== test services: Centrifugo"
"$root/testdata/centrifugo/env.sh" install
"$root/testdata/centrifugo/env.sh" start "$tmp/centrifugo"
set -a; . "$tmp/centrifugo/env"; set +a

echo "== $*"
# CMD runs in the background so a TERM (a CI timeout) or an INT reaches the
# traps at once instead of after CMD ends; they pass it on to CMD, and the
# EXIT trap stops the services. (CMD reads /dev/null, not the terminal.)
"$@" &
child=$!
trap 'kill -INT "$child" 2>/dev/null; exit 130' INT
trap 'kill -TERM "$child" 2>/dev/null; exit 143' TERM
wait "$child"

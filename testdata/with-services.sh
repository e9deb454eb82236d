#!/usr/bin/env bash
# with-services.sh CMD...: runs CMD with the test services up — a real
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
trap cleanup EXIT INT TERM

echo "== test services: PostgreSQL + PostgREST"
"$root/testdata/postgrest/env.sh" install
"$root/testdata/postgrest/env.sh" start "$tmp/postgrest"
set -a; . "$tmp/postgrest/env"; set +a

echo "== test services: Centrifugo"
"$root/testdata/centrifugo/env.sh" install
"$root/testdata/centrifugo/env.sh" start "$tmp/centrifugo"
set -a; . "$tmp/centrifugo/env"; set +a

echo "== $*"
"$@"

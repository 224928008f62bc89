#!/usr/bin/env bash
# The one command that runs the whole novakit test suite on a fresh Debian 12 machine, as root:
#   1. installs (only if missing) the Debian packages of the real servers the tests start,
#   2. checks gofmt, runs go vet ./...,
#   3. runs go test -race over the whole module with NOVAKIT_TEST_SERVICES=require, so that no test that
#      needs PostgreSQL, MariaDB or RabbitMQ can silently skip.
# Idempotent: a second run installs nothing and only tests. CI runs it through .ci/run (CI=true, no stdin).
#
# Usage: bash scripts/test.sh [go test arguments]    (default: ./...)
#   e.g. bash scripts/test.sh -v -run TestX ./internal/testsvc/
set -euo pipefail

# Debian packages the test suite needs: a C toolchain for go test -race (the race detector needs cgo),
# the real servers internal/testsvc starts, the openstack CLI (with osc-placement) the client tests drive,
# and for drivers/libvirt: the binding's headers, libvirtd with its QEMU driver, QEMU (TCG) and qemu-img,
# and busybox + cpio for the tiny guest's initramfs (drivers/libvirt/testdata/setup.sh builds it).
PACKAGES=(gcc libc6-dev pkg-config postgresql mariadb-server mariadb-client rabbitmq-server
	python3-openstackclient python3-osc-placement
	libvirt-dev libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 qemu-utils busybox-static cpio)

cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
export NOVAKIT_TEST_SERVICES=require
export CGO_ENABLED=1 # -race needs cgo

step() { printf '\n==> %s\n' "$*"; }
die() { printf '\nscripts/test.sh: %s\n' "$*" >&2; exit 1; }
now() { date +%s; }

# ---------------------------------------------------------------------------- Go
if ! command -v go >/dev/null 2>&1; then
	export PATH="$PATH:/usr/local/go/bin"
fi
command -v go >/dev/null 2>&1 || die "go not found (looked in PATH and /usr/local/go/bin)"

# ---------------------------------------------------------------------------- packages
setup_start=$(now)
missing=()
for pkg in "${PACKAGES[@]}"; do
	if [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" != "install ok installed" ]]; then
		missing+=("$pkg")
	fi
done
if ((${#missing[@]} > 0)); then
	[[ $(id -u) -eq 0 ]] || die "missing Debian packages: ${missing[*]}; run this script as root to install them"
	step "installing ${missing[*]}"
	# No systemd here: keep maintainer scripts from starting the distribution's own servers on
	# 5432/3306/5672 (the tests start private ones). Only remove the policy file if we made it.
	policy=/usr/sbin/policy-rc.d
	made_policy=0
	if [[ ! -e $policy ]]; then
		printf '#!/bin/sh\n# scripts/test.sh: do not start services during package installation\nexit 101\n' >"$policy"
		chmod 0755 "$policy"
		made_policy=1
		trap 'if ((made_policy)); then rm -f "$policy"; fi' EXIT
	fi
	apt-get -o DPkg::Lock::Timeout=600 update
	apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${missing[@]}"
	if ((made_policy)); then
		rm -f "$policy"
		made_policy=0
	fi
fi

# Users and directories the servers expect (the packages normally create them; repair if missing).
if [[ $(id -u) -eq 0 ]]; then
	for u in postgres rabbitmq; do
		id -u "$u" >/dev/null 2>&1 || die "system user $u is missing although its package is installed"
	done
	install -d -o rabbitmq -g rabbitmq -m 0755 /var/lib/rabbitmq
	cookie=/var/lib/rabbitmq/.erlang.cookie
	if [[ ! -s $cookie ]]; then
		head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr 'a-f' 'A-F' >"$cookie"
		chown rabbitmq:rabbitmq "$cookie"
		chmod 0400 "$cookie"
	fi
fi
# libvirtd and virtlogd (no systemd here: started by hand), and the tiny guest the real-QEMU tests boot.
# setup.sh prints NAME=VALUE lines for the tests on its last lines.
if [[ $(id -u) -eq 0 ]]; then
	step "libvirt: daemons and test guest"
	libvirt_env=$(sh drivers/libvirt/testdata/setup.sh) || die "drivers/libvirt/testdata/setup.sh failed"
	while IFS= read -r line; do
		[[ $line == NOVAKIT_LIBVIRT_*=* ]] && export "${line?}"
	done <<<"$libvirt_env"
fi
setup_secs=$(($(now) - setup_start))

# ---------------------------------------------------------------------------- checks and tests
declare -A status secs
run_step() { # name command...
	local name=$1 t0 rc=0
	shift
	step "$name"
	t0=$(now)
	"$@" || rc=$?
	secs[$name]=$(($(now) - t0))
	if ((rc == 0)); then status[$name]=ok; else status[$name]="FAILED (exit $rc)"; fi
}

check_gofmt() {
	local out
	out=$(gofmt -l .)
	if [[ -n $out ]]; then
		printf 'gofmt -l lists files that are not gofmt-formatted (run gofmt -w on them):\n%s\n' "$out"
		return 1
	fi
}

test_log=$(mktemp -t novakit-test.XXXXXX)
run_tests() {
	local args=("$@")
	((${#args[@]} > 0)) || args=(./...)
	# go vet already ran on everything: -vet=off keeps go test from vetting a second time.
	go test -race -count=1 -timeout 25m -vet=off "${args[@]}" 2>&1 | tee "$test_log"
}

# watermill-amqp has a data race on reconnect (upstream ThreeDotsLabs/watermill#693), so under -race
# the RabbitMQ restart, kill and outage tests skip themselves; this second pass runs them without -race.
amqp_log=$(mktemp -t novakit-amqp.XXXXXX)
run_amqp_outages() {
	go test -count=1 -timeout 10m -vet=off -run 'Conformance|Outage|Restart|Kill' ./queue/internal/amqptest/ 2>&1 | tee "$amqp_log"
}

run_step "gofmt" check_gofmt
run_step "go vet" go vet ./...
run_step "go test" run_tests "$@"
steps=("gofmt" "go vet" "go test")
if (($# == 0)); then
	run_step "amqp outages" run_amqp_outages
	steps+=("amqp outages")
	cat "$amqp_log" >>"$test_log"
fi
rm -f "$amqp_log"

# ---------------------------------------------------------------------------- summary
ok_pkgs=$(grep -c '^ok ' "$test_log" || true)
fail_pkgs=$(grep -E '^FAIL[[:space:]]+[^[:space:]]+[[:space:]]' "$test_log" || true)
failed_tests=$(grep -E '^[[:space:]]*--- FAIL: ' "$test_log" | sed -E 's/^[[:space:]]*--- FAIL: /    /' || true)
build_failed=$(grep -E '\[(build failed|setup failed)\]' "$test_log" || true)
rm -f "$test_log"

printf '\n================================ novakit test summary ================================\n'
printf '%-10s %s (%ss)\n' "setup" "ok" "$setup_secs"
overall=0
for name in "${steps[@]}"; do
	printf '%-10s %s (%ss)\n' "$name" "${status[$name]}" "${secs[$name]}"
	[[ ${status[$name]} == ok ]] || overall=1
done
printf 'packages ok: %s\n' "$ok_pkgs"
if [[ -n $fail_pkgs ]]; then
	printf 'packages FAILED:\n%s\n' "$(sed 's/^/    /' <<<"$fail_pkgs")"
fi
if [[ -n $build_failed ]]; then
	printf 'build failures:\n%s\n' "$(sed 's/^/    /' <<<"$build_failed")"
fi
if [[ -n $failed_tests ]]; then
	printf 'tests FAILED:\n%s\n' "$failed_tests"
fi
if ((overall == 0)); then
	printf 'RESULT: PASS\n'
else
	printf 'RESULT: FAIL\n'
fi
exit "$overall"

#!/bin/sh
# Installs the build and test dependencies with apt-get, but only those that
# are missing, so that a machine which has them needs neither root nor network.
set -eu

missing=""
have_pc() { pkg-config --exists "$1" 2>/dev/null; }
command -v pkg-config >/dev/null 2>&1 || missing="$missing pkg-config"
have_pc libuv     || missing="$missing libuv1-dev"
have_pc libcurl   || missing="$missing libcurl4-openssl-dev"
have_pc openssl   || missing="$missing libssl-dev"
have_pc libconfig || missing="$missing libconfig-dev"
have_pc cmocka    || missing="$missing libcmocka-dev"
have_pc jansson   || missing="$missing libjansson-dev"
have_pc sqlite3   || missing="$missing libsqlite3-dev"
command -v cc >/dev/null 2>&1 || missing="$missing gcc libc6-dev"
command -v make >/dev/null 2>&1 || missing="$missing make"
command -v openssl >/dev/null 2>&1 || missing="$missing openssl"
command -v sqlite3 >/dev/null 2>&1 || missing="$missing sqlite3"
command -v jq >/dev/null 2>&1 || missing="$missing jq"
[ -x /usr/sbin/sshd ] || missing="$missing openssh-server"
command -v ssh >/dev/null 2>&1 || missing="$missing openssh-client"
# The ssh helper's conformance under busybox sh and its applets alone
# (tests/integration/test_transport_conformance.sh); dash is Debian's sh.
command -v busybox >/dev/null 2>&1 || missing="$missing busybox"
command -v dash >/dev/null 2>&1 || missing="$missing dash"
# The ACME tests and benchmark: Pebble (with pebble-challtestsrv), nginx,
# curl, python3 for the fault proxy, lego as the benchmark's peer.
command -v pebble >/dev/null 2>&1 || missing="$missing pebble"
[ -x /usr/sbin/nginx ] || missing="$missing nginx"
command -v curl >/dev/null 2>&1 || missing="$missing curl"
command -v python3 >/dev/null 2>&1 || missing="$missing python3"
# Every --json output the tests produce is validated against the schema
# with Debian's jsonschema (tests/integration/json_valid.py).
/usr/bin/python3 -c 'import jsonschema' >/dev/null 2>&1 ||
	missing="$missing python3-jsonschema"
command -v lego >/dev/null 2>&1 || missing="$missing lego"
# The metrics test: promtool, which Debian ships only in the prometheus
# package (on a machine that runs systemd, that also enables a Prometheus
# server on port 9090; `systemctl disable --now prometheus` if unwanted).
command -v promtool >/dev/null 2>&1 || missing="$missing prometheus"
# The command CA's test: certmonger's own helper, local-submit.
[ -x /usr/libexec/certmonger/local-submit ] ||
	[ -x /usr/lib/certmonger/local-submit ] || missing="$missing certmonger"
# The HTML report's test: headless Chromium renders the pages (no network,
# a throw-away profile); faketime moves certfleet's clock back so that real
# runs leave certificates of every age.
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
command -v faketime >/dev/null 2>&1 || missing="$missing faketime"

# The packaging test: man pages rendered (groff, man), the systemd units
# checked offline (systemd-analyze; a container may lack systemd).
command -v groff >/dev/null 2>&1 || missing="$missing groff-base"
command -v man >/dev/null 2>&1 || missing="$missing man-db"
command -v systemd-analyze >/dev/null 2>&1 || missing="$missing systemd"
# ... and the Kubernetes example read as YAML.
/usr/bin/python3 -c 'import yaml' >/dev/null 2>&1 ||
	missing="$missing python3-yaml"

[ -z "$missing" ] && exit 0
echo "deps: installing$missing" >&2
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: run as root, or install:$missing" >&2
	exit 2
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >&2

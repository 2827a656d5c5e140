#!/usr/bin/env bash
# Installs the load generators the harness is compared with, the ordinary
# way: `go install` for vegeta, hey, fortio and k6 (into $(go env GOPATH)/bin),
# Debian's packages for wrk and Locust. Nothing of theirs is kept in this
# repository. Already installed tools are left alone.
set -euo pipefail

GOBIN_DIR="$(go env GOPATH)/bin"
# Pinned so that a comparison names what it ran. fortio: later versions
# need a module the Go proxy refuses.
declare -A GO_TOOLS=(
	[vegeta]="github.com/tsenart/vegeta/v12@v12.13.0"
	[hey]="github.com/rakyll/hey@v0.1.5"
	[fortio]="fortio.org/fortio@v1.68.2"
	[k6]="go.k6.io/k6@v1.8.1"
)

for tool in vegeta hey fortio k6; do
	if [ -x "$GOBIN_DIR/$tool" ]; then
		continue
	fi
	echo "install-peers: go install ${GO_TOOLS[$tool]}" >&2
	# The tools are built outside this module, with their own go.mod.
	(cd / && GOFLAGS= go install "${GO_TOOLS[$tool]}")
done

need_apt=()
command -v wrk >/dev/null || need_apt+=(wrk)
[ -x /usr/bin/locust ] || need_apt+=(python3-locust)
if [ ${#need_apt[@]} -gt 0 ]; then
	echo "install-peers: apt-get install ${need_apt[*]}" >&2
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

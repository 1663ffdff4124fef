#!/usr/bin/env bash
# Unpacks Debian packages of any architecture into a folder, without installing them (no dpkg
# database, no maintainer scripts): the musl-only test roots are made this way. apt fetches and
# verifies them against the signed archive index, with a private state folder, so the machine's
# own apt configuration and architectures are left alone.
#
#   debian-packages.sh ARCH SUITE DIR PACKAGE...    e.g. arm64 bookworm /tmp/root musl busybox-static
set -euo pipefail
arch=$1 suite=$2 dir=$3; shift 3
MIRROR=$("$(dirname "$0")/debian-mirror.sh")
state=${EDGESAY_TOOLCHAIN_CACHE:-/var/cache/edgesay}/apt-$suite-$arch
mkdir -p "$state/lists/partial" "$state/archives/partial" "$dir"
echo "deb [arch=$arch] $MIRROR $suite main" > "$state/sources.list"
: > "$state/status"
apt_options=(-o "Dir::Etc::SourceList=$state/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$state/lists" -o "Dir::State::Status=$state/status" -o "Dir::Cache=$state"
    -o "Dir::Cache::Archives=$state/archives" -o "APT::Architecture=$arch" -o "APT::Architectures=$arch"
    -o Debug::NoLocking=1 -o APT::Sandbox::User=root -q)
[ -n "$(ls "$state/lists" | grep -v partial)" ] || apt-get "${apt_options[@]}" update >/dev/null
cd "$state/archives"
apt-get "${apt_options[@]}" download "$@" >/dev/null
for package in "$@"; do
    dpkg-deb -x "$(ls -t "${package}"_*_"$arch".deb | head -1)" "$dir"
done

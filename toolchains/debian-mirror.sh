#!/usr/bin/env bash
# Prints the Debian mirror to fetch from: $EDGESAY_DEBIAN_MIRROR, or the first Debian archive this
# machine's apt is configured with (deb822 .sources files, then one-line .list files). No host is
# written into the repository: the machine already knows which mirror it may reach.
set -euo pipefail
if [ -n "${EDGESAY_DEBIAN_MIRROR:-}" ]; then echo "${EDGESAY_DEBIAN_MIRROR%/}"; exit 0; fi
found=$( {
    grep -hE '^\s*URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | sed -E 's/^\s*URIs:\s*//' | tr ' ' '\n' || true
    grep -hE '^\s*deb\s' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
        | sed -E 's/^\s*deb\s+(\[[^]]*\]\s+)?//' | cut -d' ' -f1 || true
} | grep -E '^https?://.*/debian/?$' | sed -n 1p)
if [ -z "$found" ]; then
    echo "debian-mirror: no Debian archive in /etc/apt/sources.list*; set EDGESAY_DEBIAN_MIRROR" >&2
    exit 1
fi
echo "${found%/}"

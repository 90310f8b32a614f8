#!/usr/bin/env bash
# Installs the Debian packages Twill builds, tests and demos with, when any is missing.
set -euo pipefail
packages=(liburing-dev libnl-3-dev libnl-route-3-dev libseccomp-dev iproute2 iputils-ping iperf3 ethtool tshark
          python3 procps util-linux etcd-server etcd-client openssl containernetworking-plugins iptables nftables
          systemd)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi

#!/usr/bin/env bash
# Installs the system packages the trainer and the tests need (Debian), and makes sure the local PostgreSQL
# and Redis are running. Idempotent; does nothing that is already done.
set -euo pipefail
need=()
/usr/bin/python3 -c "import torch, torchvision, onnx, tifffile, skimage, pytest" 2>/dev/null || \
  need+=(python3-torch python3-torchvision python3-onnx python3-tifffile python3-skimage python3-pytest python3-numpy)
# Real ImageJ 1.x (libij-java: the ij.jar that Debian's `imagej` runs) and a JDK, whose single-file source
# launcher runs the ImageJ check of the TIFF tests headless (no display, so no Xvfb).
[ -f /usr/share/java/ij.jar ] || need+=(libij-java)
java --list-modules 2>/dev/null | grep -q '^jdk.compiler@' || need+=(default-jdk-headless)
# The dashboard's browser tests drive Debian's Chromium (playwright-core downloads no browser).
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Services the integration tests talk to (already running on development and CI machines of this kind).
if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
fi
if command -v redis-cli >/dev/null && ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || true
fi

#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages MVC Workbench needs, only those missing.
# Used by scripts/app.sh and scripts/test.sh; safe to run repeatedly.
set -euo pipefail

PKGS=(
  pkg-config build-essential
  libhdf5-dev                     # MAT v7.3 (HDF5) files
  libgtk-3-dev                    # native file dialogs (rfd)
  libxkbcommon-dev libxkbcommon-x11-0 libx11-dev libxcursor1 libxrandr2 libxi6 libwayland-dev
  libgl1 libegl1 libgl1-mesa-dri  # OpenGL for the egui window
  mesa-vulkan-drivers             # wgpu adapters (software Vulkan is never auto-picked)
  xvfb xauth                      # headless display for GUI tests and screenshots
  fonts-dejavu-core               # fonts for exported figures
  curl                            # the serve tests replay the seed API's curl examples
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing system packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "error: cargo (Rust 1.95 or newer) is not installed; install it with rustup (https://rustup.rs) and run this again" >&2
  exit 1
fi

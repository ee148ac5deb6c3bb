#!/usr/bin/env bash
# Debian's Chromium for the browser tests (tests/demo_run/test_ui.py drives it with Playwright,
# which cannot download its own browsers without internet). Installs only when /usr/bin/chromium
# is missing; needs root or sudo. Run it, or source it and call chromium_install.

chromium_install() {
    if [ -x /usr/bin/chromium ]; then
        return 0
    fi
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    # Recommended packages included: they bring the fonts the screenshots are drawn with.
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
    /usr/bin/chromium --version
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    chromium_install
fi

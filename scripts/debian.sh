# Sourced by scripts/test.sh and scripts/check-deploy.sh.
# shellcheck shell=bash
# need_debian PACKAGE COMMAND...: installs Debian's PACKAGE through apt-get (as root) unless every
# COMMAND is already on PATH; otherwise says what to install and exits.
need_debian() {
    local package=$1 command
    shift
    for command in "$@"; do
        command -v "$command" >/dev/null 2>&1 && continue
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$package" >/dev/null
            return
        fi
        echo "$command not found: install Debian's $package package (sudo apt-get install $package)" >&2
        exit 1
    done
}

#!/bin/sh
# bootstrap.sh: the README's two commands, for a fresh Debian 12 machine.
#
#   sh tests/bootstrap.sh quickstart   install what is missing, build, run scenarios/quickstart.lua
#   sh tests/bootstrap.sh test         install what is missing, build normal and sanitizer builds,
#                                      run the whole test suite on both
#
# Packages are installed only when missing, with sudo when not root. Build folders: build/ and
# build-asan/. Set JOBS to change build parallelism (default: all cores).
set -eu

PACKAGES="build-essential cmake pkg-config libgsl-dev liblua5.4-dev libcmocka-dev libxxhash-dev gnuplot-nox
          liblmdb-dev libsodium-dev libuv1-dev"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}

say() { printf '==> %s\n' "$*"; }

install_missing() {
    missing=""
    for p in $PACKAGES; do
        status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
        case "$status" in
            *"ok installed"*) ;;
            *) missing="$missing $p" ;;
        esac
    done
    if [ -z "$missing" ]; then
        say "all packages present"
        return
    fi
    if [ "$(id -u)" -eq 0 ]; then
        SUDO=""
    elif command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "error: need root or sudo to install:$missing" >&2
        exit 2
    fi
    say "installing:$missing"
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
}

build() {  # build DIR [cmake args...]
    dir=$1
    shift
    say "configuring $dir"
    cmake -S "$ROOT" -B "$ROOT/$dir" -DDYN_WERROR=ON "$@" >/dev/null
    say "building $dir"
    cmake --build "$ROOT/$dir" -j "$JOBS"
}

case "${1:-}" in
    quickstart)
        install_missing
        build build -DCMAKE_BUILD_TYPE=RelWithDebInfo
        say "running scenarios/quickstart.lua"
        cd "$ROOT"
        ./build/dynsim run scenarios/quickstart.lua --seed 7
        ;;
    test)
        install_missing
        build build -DCMAKE_BUILD_TYPE=RelWithDebInfo
        build build-asan -DCMAKE_BUILD_TYPE=Debug -DDYN_SANITIZE=ON
        say "test suite, normal build"
        ctest --test-dir "$ROOT/build" --output-on-failure -j "$JOBS"
        say "test suite, AddressSanitizer + UndefinedBehaviorSanitizer build"
        ctest --test-dir "$ROOT/build-asan" --output-on-failure -j "$JOBS" -LE slow
        ;;
    *)
        echo "usage: sh tests/bootstrap.sh quickstart|test" >&2
        exit 2
        ;;
esac

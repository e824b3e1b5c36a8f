#!/bin/sh
# bootstrap.sh: the README's two commands, for a fresh Debian 12 machine.
#
#   sh tests/bootstrap.sh quickstart   install what is missing, build, run scenarios/quickstart.lua
#   sh tests/bootstrap.sh test         install what is missing, build normal and sanitizer builds,
#                                      run the whole test suite on both, then give each libFuzzer
#                                      target a bounded run in a clang build
#
# Packages are installed only when missing, with sudo when not root. Build folders: build/ and
# build-asan/. Set JOBS to change build parallelism (default: all cores).
set -eu

PACKAGES="build-essential cmake pkg-config libgsl-dev liblua5.4-dev libcmocka-dev libxxhash-dev gnuplot-nox
          liblmdb-dev libsodium-dev libuv1-dev"
# The fuzz targets need clang and its sanitizer and libFuzzer runtime (Debian 12: clang 14).
FUZZ_PACKAGES="clang libclang-rt-14-dev"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}

say() { printf '==> %s\n' "$*"; }

install_missing() {  # install_missing PACKAGE...
    missing=""
    for p in "$@"; do
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

configure() {  # configure DIR [cmake args...]
    dir=$1
    shift
    say "configuring $dir"
    cmake -S "$ROOT" -B "$ROOT/$dir" -DDYN_WERROR=ON "$@" >/dev/null
}

build() {  # build DIR [cmake args...]
    configure "$@"
    say "building $1"
    cmake --build "$ROOT/$1" -j "$JOBS"
}

FUZZ_TARGETS="fuzz_codec fuzz_seal fuzz_frag fuzz_bundle fuzz_admin"

case "${1:-}" in
    quickstart)
        # shellcheck disable=SC2086
        install_missing $PACKAGES
        build build -DCMAKE_BUILD_TYPE=RelWithDebInfo
        say "running scenarios/quickstart.lua"
        cd "$ROOT"
        ./build/dynsim run scenarios/quickstart.lua --seed 7
        ;;
    test)
        # shellcheck disable=SC2086
        install_missing $PACKAGES $FUZZ_PACKAGES
        build build -DCMAKE_BUILD_TYPE=RelWithDebInfo
        build build-asan -DCMAKE_BUILD_TYPE=Debug -DDYN_SANITIZE=ON
        say "test suite, normal build"
        ctest --test-dir "$ROOT/build" --output-on-failure -j "$JOBS"
        say "test suite, AddressSanitizer + UndefinedBehaviorSanitizer build"
        ctest --test-dir "$ROOT/build-asan" --output-on-failure -j "$JOBS" -LE slow
        # Only the fuzz targets are built here; the other tests ran above.
        (export CC=clang; configure build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDYN_FUZZ=ON)
        say "building the libFuzzer targets in build-fuzz"
        # shellcheck disable=SC2086
        cmake --build "$ROOT/build-fuzz" -j "$JOBS" --target $FUZZ_TARGETS
        say "fuzz targets, 20 s each from their seed corpora (longer: see README)"
        ctest --test-dir "$ROOT/build-fuzz" --output-on-failure -j "$JOBS" -L fuzz
        ;;
    *)
        echo "usage: sh tests/bootstrap.sh quickstart|test" >&2
        exit 2
        ;;
esac

# shellcheck shell=bash
# Helpers shared by the scripts in this folder. Sourced, never executed:
#   . "$(dirname "${BASH_SOURCE[0]}")/common.sh"
#
# Sets B2C_ROOT (the repository root, found from this file's own path), OUT
# (build output, default $B2C_ROOT/out, override with B2C_OUT), DEBS (the
# .deb cache, $OUT/debs) and the target architecture (set_arch, below; from
# B2C_ARCH, default amd64; the scripts' --arch option calls set_arch again).

B2C_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# A normal user's PATH often lacks the sbin folders, where depmod, mkfs.ext4,
# sgdisk, losetup... are.
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH=$PATH:/usr/sbin ;; esac
case ":$PATH:" in *:/sbin:*) ;; *) PATH=$PATH:/sbin ;; esac
# Where rustup installs cargo for this user (scripts/setup may have just
# done it), for shells that did not source ~/.cargo/env.
if [ -d "${HOME:-/nonexistent}/.cargo/bin" ]; then
    case ":$PATH:" in *":$HOME/.cargo/bin:"*) ;; *) PATH=$HOME/.cargo/bin:$PATH ;; esac
fi
export PATH
OUT=${B2C_OUT:-$B2C_ROOT/out}
DEBS=$OUT/debs
export LC_ALL=C

die() {
    printf '%s: error: %s\n' "${0##*/}" "$*" >&2
    exit 1
}

info() {
    printf '%s: %s\n' "${0##*/}" "$*" >&2
}

# need_cmd CMD...: dies naming the first command that is missing.
need_cmd() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 ||
            die "command '$c' not found (run scripts/setup to install what the scripts need)"
    done
}

# set_arch ARCH: the guest architecture, amd64 or arm64 (aliases x86_64,
# aarch64). Sets DEB_ARCH (Debian's name, used in the artifact names),
# RUST_TARGET (the init's target), MULTIARCH (the library directory name),
# KERNEL_FILE (the kernel artifact's name in $OUT), KERNEL_DIR (its unpacked
# package), QEMU_BIN and CROSS_PREFIX (the cross binutils/gcc prefix, empty
# for the host's own architecture).
# shellcheck disable=SC2034 # used by the scripts that source this file
set_arch() {
    case $1 in
    amd64 | x86_64)
        DEB_ARCH=amd64 RUST_TARGET=x86_64-unknown-linux-musl MULTIARCH=x86_64-linux-gnu
        KERNEL_FILE=linux-x86_64 QEMU_BIN=qemu-system-x86_64 ;;
    arm64 | aarch64)
        DEB_ARCH=arm64 RUST_TARGET=aarch64-unknown-linux-musl MULTIARCH=aarch64-linux-gnu
        KERNEL_FILE=linux-arm64 QEMU_BIN=qemu-system-aarch64 ;;
    *) die "unknown architecture '$1' (amd64 or arm64)" ;;
    esac
    KERNEL_DIR=$OUT/kernel-$DEB_ARCH
    CROSS_PREFIX=
    [ "$DEB_ARCH" = "$(host_arch)" ] || CROSS_PREFIX=$MULTIARCH-
}

# host_arch: the Debian architecture of this machine.
host_arch() {
    dpkg --print-architecture 2>/dev/null || case $(uname -m) in
    x86_64) echo amd64 ;; aarch64) echo arm64 ;; *) uname -m ;;
    esac
}

# ------------------------------------------------------------------ apt
# The packages come from Debian 12 through apt-get download. Packages of the
# host's own architecture from the component main use the host's apt as it
# is. Anything else (another architecture, or the non-free-firmware
# component, which a stock Debian 12 does not enable) uses a private apt
# configuration under $OUT/apt/NAME: its own sources list (the host's Debian
# mirrors, found with `apt-get indextargets`), its own package lists and an
# empty dpkg status. It changes nothing on the host (no dpkg
# --add-architecture, no new sources) and needs no root; apt_lists_update
# fills it (scripts/setup --arch/--firmware, or the first build: apt_use).
APT_COMPONENT=main
APT_OPTS=()

# apt_use COMPONENT: apt_select, and the private lists fetched if they are
# missing. Call it from the main shell (not in $(...)) after set_arch,
# before the functions below.
apt_use() {
    apt_select "$1"
    apt_lists_update --if-missing
}

# apt_select COMPONENT: the apt configuration for $DEB_ARCH and COMPONENT
# (main or non-free-firmware); sets APT_OPTS and APT_DIR (empty: the host's).
apt_select() {
    APT_COMPONENT=$1
    APT_OPTS=()
    APT_DIR=
    if [ "$APT_COMPONENT" = main ] && [ "$DEB_ARCH" = "$(host_arch)" ]; then
        return 0
    fi
    need_cmd apt-get
    APT_DIR=${B2C_APT_DIR:-$OUT/apt}/$DEB_ARCH-$APT_COMPONENT
    APT_OPTS=(-o "Dir::Etc::SourceList=$APT_DIR/sources.list"
        -o "Dir::Etc::SourceParts=$APT_DIR/sources.list.d"
        -o "Dir::Etc::Preferences=$APT_DIR/preferences"
        -o "Dir::Etc::PreferencesParts=$APT_DIR/preferences.d"
        -o "Dir::State::Lists=$APT_DIR/lists"
        -o "Dir::State::status=$APT_DIR/status"
        -o "Dir::Cache=$APT_DIR/cache"
        -o "APT::Architecture=$DEB_ARCH" -o "APT::Architectures::=$DEB_ARCH"
        -o "Acquire::Languages=none")
}

# apt_lists_update [--if-missing]: writes the private sources list of the
# current apt_select and runs `apt-get update` on it (nothing to do for the
# host's own configuration).
apt_lists_update() {
    [ -n "$APT_DIR" ] || return 0
    if [ "${1:-}" = --if-missing ] && compgen -G "$APT_DIR/lists/*_Packages*" >/dev/null; then
        return 0
    fi
    local keyring=/usr/share/keyrings/debian-archive-keyring.gpg opt='' line uri suite n=0
    [ -f "$keyring" ] && opt=" signed-by=$keyring"
    mkdir -p "$APT_DIR"/{sources.list.d,preferences.d,lists/partial,cache/archives/partial}
    : >"$APT_DIR/status"
    : >"$APT_DIR/sources.list.tmp"
    # shellcheck disable=SC2016 # $(REPO_URI) is apt's own field syntax
    while read -r uri suite; do
        printf 'deb [arch=%s%s] %s %s %s\n' "$DEB_ARCH" "$opt" "$uri" "$suite" "$APT_COMPONENT" \
            >>"$APT_DIR/sources.list.tmp"
        n=$((n + 1))
    done < <(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 'Origin: Debian' \
        'Identifier: Packages' 2>/dev/null | sort -u)
    [ $n -gt 0 ] ||
        die "no Debian repository in the host's apt sources (apt-get indextargets): the private apt configuration in $APT_DIR needs the host's Debian mirror"
    mv "$APT_DIR/sources.list.tmp" "$APT_DIR/sources.list"
    info "apt-get update for $DEB_ARCH $APT_COMPONENT (lists in $APT_DIR):"
    while read -r line; do info "  $line"; done <"$APT_DIR/sources.list"
    apt-get "${APT_OPTS[@]}" -o Debug::NoLocking=1 update -qq ||
        die "apt-get update failed for the private configuration in $APT_DIR"
}

# apt_cache ARGS, apt_get ARGS: apt-cache and apt-get with the current
# configuration (apt_select).
apt_cache() { apt-cache "${APT_OPTS[@]}" "$@"; }
apt_get() { apt-get "${APT_OPTS[@]}" "$@"; }

# setup_hint: the scripts/setup options that refresh the current apt lists.
setup_hint() {
    [ -n "$APT_DIR" ] || return 0
    printf ' --arch %s' "$DEB_ARCH"
    [ "$APT_COMPONENT" = main ] || printf ' --firmware'
    printf ' --refresh'
}

# deb_field PKG FIELD: a field of the candidate version of PKG (apt-cache show).
deb_field() {
    local pkg=$1 field=$2 rec
    rec=$(apt_cache show --no-all-versions "$pkg:$DEB_ARCH" 2>/dev/null ||
        apt_cache show --no-all-versions "$pkg" 2>/dev/null) ||
        die "package '$pkg' unknown to apt-cache (run scripts/setup$(setup_hint), which runs apt-get update when needed)"
    printf '%s\n' "$rec" | sed -n "s/^$field: //p" | head -n1
}

# deb_path PKG: the path in $DEBS where `apt-get download` puts the candidate of PKG.
deb_path() {
    local pkg=$1 ver arch
    ver=$(deb_field "$pkg" Version)
    arch=$(deb_field "$pkg" Architecture)
    [ -n "$ver" ] || die "package '$pkg': no candidate version (apt-cache show)"
    printf '%s/%s_%s_%s.deb\n' "$DEBS" "$pkg" "${ver//:/%3a}" "$arch"
}

# deb_paths PKG...: deb_path of each PKG, in order, with one apt-cache call.
deb_paths() {
    [ $# -gt 0 ] || return 0
    local out err
    err=$(mktemp)
    out=$(apt_cache show --no-all-versions "${@/%/:$DEB_ARCH}" 2>"$err" |
        awk -v dir="$DEBS" -v names="$*" '
            /^Package: / { p = $2 } /^Version: / { v = $2 } /^Architecture: / { a = $2 }
            /^$/ { if (p != "") { gsub(/:/, "%3a", v); path[p] = dir "/" p "_" v "_" a ".deb" }; p = "" }
            END {
                if (p != "") { gsub(/:/, "%3a", v); path[p] = dir "/" p "_" v "_" a ".deb" }
                n = split(names, want, " ")
                for (i = 1; i <= n; i++) print (want[i] in path) ? path[want[i]] : "MISSING " want[i]
            }') || { cat "$err" >&2; rm -f "$err"; die "apt-cache show failed for: $*"; }
    rm -f "$err"
    if grep -q '^MISSING ' <<<"$out"; then
        die "package(s) unknown to apt-cache: $(sed -n 's/^MISSING //p' <<<"$out" | tr '\n' ' ')(run scripts/setup$(setup_hint), which runs apt-get update when needed)"
    fi
    printf '%s\n' "$out"
}

# fetch_debs PKG...: downloads the candidate .deb of each PKG into $DEBS unless
# it is already there (a cache: nothing is fetched twice).
fetch_debs() {
    local missing=() log path i paths
    mkdir -p "$DEBS"
    mapfile -t paths < <(deb_paths "$@")
    [ ${#paths[@]} -eq $# ] || die "apt-cache show failed for: $*"
    for ((i = 0; i < $#; i++)); do
        path=${paths[$i]}
        [ -s "$path" ] || missing+=("${path##*/}")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    missing=("${missing[@]%%_*}")
    if [ ${#missing[@]} -le 12 ]; then
        info "downloading ${#missing[@]} package(s) into $DEBS: ${missing[*]}"
    else
        info "downloading ${#missing[@]} packages into $DEBS: ${missing[*]:0:10} and $((${#missing[@]} - 10)) more"
    fi
    log=$(cd "$DEBS" && apt_get download "${missing[@]/%/:$DEB_ARCH}" 2>&1) || {
        printf '%s\n' "$log" >&2
        die "apt-get download failed for: ${missing[*]} (stale package lists? run scripts/setup$(setup_hint))"
    }
    for path in "${paths[@]}"; do
        [ -s "$path" ] || die "$path missing after apt-get download"
    done
}

# An awk program over `apt-cache depends` output: the first real package of
# each dependency (" |Depends: A" then "  Depends: B" is "A | B"; virtual
# packages are shown as <NAME> and skipped for the next alternative).
# shellcheck disable=SC2016 # awk's own $2
FIRST_ALTERNATIVES='
    /^ [ |](Depends|PreDepends): / {
        alt = substr($0, 2, 1) == "|"
        if (!done && substr($2, 1, 1) != "<") { print $2; done = 1 }
        if (!alt) done = 0
    }'

# deb_closure GLOB [--without PKG]... PKG...: PKG plus every package matching
# GLOB (a shell pattern) they depend on, recursively (Depends and
# Pre-Depends, the first real package of each alternative), except the
# --without ones, which are neither listed nor followed (a package that
# another one replaces). One apt-cache call per level of the graph (one per
# package is slow).
deb_closure() {
    local glob=$1
    shift
    local -A seen=() without=()
    while [ "${1:-}" = --without ]; do
        without[$2]=1 seen[$2]=1
        shift 2
    done
    local frontier=("$@") next dep
    while [ ${#frontier[@]} -gt 0 ]; do
        next=()
        for dep in "${frontier[@]}"; do seen[$dep]=1; done
        while read -r dep; do
            # shellcheck disable=SC2254 # $glob is a pattern on purpose
            case $dep in
            $glob) if [ -z "${seen[$dep]:-}" ]; then
                seen[$dep]=1
                next+=("$dep")
            fi ;;
            esac
        done < <(apt_cache depends --no-recommends --no-suggests --no-conflicts \
            --no-breaks --no-replaces --no-enhances "${frontier[@]}" 2>/dev/null |
            awk "$FIRST_ALTERNATIVES" | sed 's/:.*//' | sort -u)
        frontier=("${next[@]}")
    done
    for dep in "${!seen[@]}"; do
        [ -n "${without[$dep]:-}" ] || printf '%s\n' "$dep"
    done | sort
}

# deb_lib_closure [--without PKG]... PKG...: deb_closure of the library
# packages (lib*): tools that the packages want at install time (dpkg,
# systemd, gnupg...) are not dragged in; the shared objects the binaries
# really need are checked with readelf afterwards.
deb_lib_closure() { deb_closure 'lib*' "$@"; }

# init_path: where `build_init` puts the init binary for $RUST_TARGET.
init_path() {
    local dir=${CARGO_TARGET_DIR:-$B2C_ROOT/target}
    case $dir in /*) ;; *) dir=$B2C_ROOT/$dir ;; esac
    printf '%s/%s/release/b2c\n' "$dir" "$RUST_TARGET"
}

# build_init: `cargo build --release --target $RUST_TARGET --bin b2c`, a
# static binary (musl). Cross builds link with the $CROSS_PREFIX gcc (Debian's
# gcc-aarch64-linux-gnu). Absolute paths of this machine (the repository,
# the cargo registry, the toolchain) are remapped so that the binary is the
# same wherever it is built.
build_init() {
    local triple cargo_home rustup_home target_dir flags
    need_cmd cargo
    triple=$(printf '%s' "$RUST_TARGET" | tr 'a-z-' 'A-Z_')
    cargo_home=${CARGO_HOME:-$HOME/.cargo}
    rustup_home=${RUSTUP_HOME:-$HOME/.rustup}
    target_dir=${CARGO_TARGET_DIR:-$B2C_ROOT/target}
    case $target_dir in /*) ;; *) target_dir=$B2C_ROOT/$target_dir ;; esac
    # The most specific prefix last: rustc applies the last one that matches.
    flags="--remap-path-prefix=$cargo_home=/build/cargo"
    flags+=" --remap-path-prefix=$rustup_home=/build/rustup"
    flags+=" --remap-path-prefix=$B2C_ROOT=/build/boot2container"
    flags+=" --remap-path-prefix=$target_dir=/build/target"
    local env=("CARGO_TARGET_${triple}_RUSTFLAGS=$flags")
    if [ -n "$CROSS_PREFIX" ]; then
        need_cmd "${CROSS_PREFIX}gcc"
        env+=("CARGO_TARGET_${triple}_LINKER=${CROSS_PREFIX}gcc"
            "CC_${RUST_TARGET//-/_}=${CROSS_PREFIX}gcc" "AR_${RUST_TARGET//-/_}=${CROSS_PREFIX}ar")
    fi
    info "cargo build --release --target $RUST_TARGET --bin b2c"
    (cd "$B2C_ROOT" && env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS "${env[@]}" \
        cargo build --release --target "$RUST_TARGET" --bin b2c) ||
        die "cargo build of the b2c init for $RUST_TARGET failed (scripts/setup --arch $DEB_ARCH installs the target and the cross linker)"
    [ -f "$(init_path)" ] || die "cargo build did not produce $(init_path)"
}

# source_date_epoch: the timestamp put on every built file (reproducibility).
source_date_epoch() {
    printf '%s\n' "${SOURCE_DATE_EPOCH:-0}"
}

set_arch "${B2C_ARCH:-amd64}"

# registry_port: the port of the local registry that scripts/registry
# started or found ($B2C_REGISTRY_PORT, else out/registry/port, else 5000).
registry_port() {
    if [ -n "${B2C_REGISTRY_PORT:-}" ]; then
        printf '%s\n' "$B2C_REGISTRY_PORT"
    elif [ -s "$OUT/registry/port" ]; then
        cat "$OUT/registry/port"
    else
        printf '5000\n'
    fi
}

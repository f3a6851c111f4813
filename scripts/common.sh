# shellcheck shell=bash
# Helpers shared by the scripts in this folder. Sourced, never executed:
#   . "$(dirname "${BASH_SOURCE[0]}")/common.sh"
#
# Sets B2C_ROOT (the repository root, found from this file's own path), OUT
# (build output, default $B2C_ROOT/out, override with B2C_OUT) and DEBS (the
# .deb cache, $OUT/debs).

B2C_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${B2C_OUT:-$B2C_ROOT/out}
DEBS=$OUT/debs
# Debian architecture of the packages we take (the guest's, not the host's).
DEB_ARCH=${DEB_ARCH:-amd64}
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

# deb_field PKG FIELD: a field of the candidate version of PKG (apt-cache show).
deb_field() {
    local pkg=$1 field=$2 rec
    rec=$(apt-cache show --no-all-versions "$pkg:$DEB_ARCH" 2>/dev/null ||
        apt-cache show --no-all-versions "$pkg" 2>/dev/null) ||
        die "package '$pkg' unknown to apt-cache (run scripts/setup, which runs apt-get update when needed)"
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
    local out
    out=$(apt-cache show --no-all-versions "${@/%/:$DEB_ARCH}" 2>/dev/null |
        awk -v dir="$DEBS" -v names="$*" '
            /^Package: / { p = $2 } /^Version: / { v = $2 } /^Architecture: / { a = $2 }
            /^$/ { if (p != "") { gsub(/:/, "%3a", v); path[p] = dir "/" p "_" v "_" a ".deb" }; p = "" }
            END {
                if (p != "") { gsub(/:/, "%3a", v); path[p] = dir "/" p "_" v "_" a ".deb" }
                n = split(names, want, " ")
                for (i = 1; i <= n; i++) print (want[i] in path) ? path[want[i]] : "MISSING " want[i]
            }') || die "apt-cache show failed for: $*"
    if grep -q '^MISSING ' <<<"$out"; then
        die "package(s) unknown to apt-cache: $(sed -n 's/^MISSING //p' <<<"$out" | tr '\n' ' ')(run scripts/setup, which runs apt-get update when needed)"
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
    info "downloading ${#missing[@]} package(s) into $DEBS: ${missing[*]}"
    log=$(cd "$DEBS" && apt-get download "${missing[@]/%/:$DEB_ARCH}" 2>&1) || {
        printf '%s\n' "$log" >&2
        die "apt-get download failed for: ${missing[*]}"
    }
    for path in "${paths[@]}"; do
        [ -s "$path" ] || die "$path missing after apt-get download"
    done
}

# deb_lib_closure PKG...: PKG plus every library package (lib*) they depend on,
# recursively (Depends and Pre-Depends, first alternative, virtual packages
# skipped). Only library packages are followed, so tools that the packages
# want at install time (dpkg, systemd, gnupg...) are not dragged in: the
# shared objects the binaries really need are checked with readelf afterwards.
deb_lib_closure() {
    local -A seen=()
    local frontier=("$@") next dep
    while [ ${#frontier[@]} -gt 0 ]; do
        next=()
        for dep in "${frontier[@]}"; do seen[$dep]=1; done
        # One apt-cache call per level of the graph (one per package is slow).
        while read -r dep; do
            case $dep in
            lib*) if [ -z "${seen[$dep]:-}" ]; then
                seen[$dep]=1
                next+=("$dep")
            fi ;;
            esac
        done < <(apt-cache depends --no-recommends --no-suggests --no-conflicts \
            --no-breaks --no-replaces --no-enhances "${frontier[@]}" 2>/dev/null |
            awk '/^  (Depends|PreDepends): [^<]/ { print $2 }' | sed 's/:.*//' | sort -u)
        frontier=("${next[@]}")
    done
    printf '%s\n' "${!seen[@]}" | sort
}

# source_date_epoch: the timestamp put on every built file (reproducibility).
source_date_epoch() {
    printf '%s\n' "${SOURCE_DATE_EPOCH:-0}"
}

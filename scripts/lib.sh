# Shared by the set-up scripts (sourced, not run): their messages, and Debian packages.

say() { printf '\033[1msetup:\033[0m %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

# Installs those of the given Debian packages that are not installed yet (apt-get, through
# sudo when not root); does nothing, and needs no network, when all are there.
apt_install() { # what-for packages...
    local why=$1 p sudo=
    shift
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    say "installing Debian packages ($why): ${missing[*]}"
    [[ $(id -u) == 0 ]] || sudo=sudo
    $sudo apt-get update -qq || die "apt-get update failed (is the Debian mirror reachable?)"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || die "could not install ${missing[*]} from Debian"
}

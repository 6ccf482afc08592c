# Shared helpers for the .ci scripts (sourced). Each installs only when missing.

ensure_rust_targets() {
    local have
    have=$(rustup target list --installed)
    for t in wasm32-unknown-unknown thumbv7em-none-eabihf; do
        grep -qx "$t" <<<"$have" || rustup target add "$t"
    done
}

apt_install() {
    # apt_install CMD PACKAGE...: installs the packages when CMD is missing.
    local cmd=$1
    shift
    if ! command -v "$cmd" >/dev/null 2>&1; then
        (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
    fi
}

#!/bin/sh
# Build the harness image, erlmcp-perf, locally with nothing pulled: a `FROM scratch`
# filesystem holding the erlmcp-perf executable, the shared libraries `ldd` lists for it
# (the dynamic loader among them) at the paths `ldd` gives, /etc/nsswitch.conf and /tmp,
# imported with `docker import`. The entrypoint is /erlmcp-perf, so the pods' args are
# its subcommands: `run ...`, `merge ...`, `refserver ...`.
#
# Usage: deploy/kubernetes/image.sh [BINARY] [TAG]
#        BINARY  default target/release/erlmcp-perf (cargo build --release)
#        TAG     default erlmcp-perf:latest
#
# The libraries come from this machine, so the image runs on nodes of this machine's
# architecture. Names are resolved by glibc itself: from 2.34 on its `files` and `dns`
# lookups are built into libc.so.6, and /etc/nsswitch.conf here says to use them; the
# container runtime provides /etc/hosts and /etc/resolv.conf. The URL must be plain
# http:// (or ws://, tcp://): the harness has no TLS, so the image needs no certificates.
#
# Then make the image reachable to the cluster, e.g. `kind load docker-image TAG`,
# `minikube image load TAG`, or `docker tag`/`docker push` to a registry the nodes pull from.
set -eu

BIN=${1:-target/release/erlmcp-perf}
TAG=${2:-erlmcp-perf:latest}

fail() { echo "image.sh: $*" >&2; exit 1; }

[ -f "$BIN" ] && [ -x "$BIN" ] || fail "no executable at $BIN (build it: cargo build --release)"
command -v docker >/dev/null 2>&1 || fail "docker not found"
command -v ldd >/dev/null 2>&1 || fail "ldd not found"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT INT TERM
FS=$WORK/rootfs
mkdir -p "$FS/etc" "$FS/tmp"
chmod 1777 "$FS/tmp"
cp -L "$BIN" "$FS/erlmcp-perf"
chmod 0755 "$FS/erlmcp-perf"

# `ldd` lines: `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)` and, for the
# loader, `/lib64/ld-linux-x86-64.so.2 (0x...)`; linux-vdso has no file. A static binary
# needs none ("not a dynamic executable", "statically linked").
if LDD=$(ldd "$BIN" 2>&1); then
    LIBS=$(printf '%s\n' "$LDD" | awk '
        $2 == "=>" && $3 ~ /^\// { print $3; next }
        $1 ~ /^\// { print $1 }' | sort -u)
else
    case "$LDD" in
        *"not a dynamic executable"*|*"statically linked"*) LIBS= ;;
        *) fail "ldd $BIN failed: $LDD" ;;
    esac
fi
LIB_DIRS=
for lib in $LIBS; do
    dir=$(dirname "$lib")
    mkdir -p "$FS$dir"
    # -L: the library's bytes under the name ldd gave, not a symlink to elsewhere.
    cp -L "$lib" "$FS$lib"
    case ":$LIB_DIRS:" in
        *":$dir:"*) ;;
        *) LIB_DIRS=${LIB_DIRS:+$LIB_DIRS:}$dir ;;
    esac
done

printf 'hosts: files dns\n' >"$FS/etc/nsswitch.conf"
printf '%s\n' 'root:x:0:0:root:/:/erlmcp-perf' 'nobody:x:65534:65534:nobody:/:/erlmcp-perf' \
    >"$FS/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$FS/etc/group"

set -- --change 'ENTRYPOINT ["/erlmcp-perf"]' --change 'WORKDIR /'
if [ -n "$LIB_DIRS" ]; then
    set -- "$@" --change "ENV LD_LIBRARY_PATH=$LIB_DIRS"
fi
set -- "$@" --change 'LABEL org.opencontainers.image.title=erlmcp-perf'
tar -C "$FS" --numeric-owner --owner=0 --group=0 -cf - . \
    | docker import "$@" --message "erlmcp-perf from $BIN" - "$TAG" >/dev/null
echo "image.sh: built $TAG from $BIN ($(printf '%s\n' $LIBS | grep -c . || true) shared libraries)"

#!/bin/sh
# A local stand-in for the Dockerfile's pinned base (python:3.11-slim-bookworm), made from
# Debian's own packages, for a machine that reaches Debian's archive and PyPI but no
# container registry:
#
#   scripts/debian_base_image.sh [TAG]            # default TAG: coral-base:bookworm
#   docker build --network host --build-arg BASE=coral-base:bookworm -t coral/colony .
#
# debootstrap makes a minimal bookworm with Debian's Python 3.11 and its venv module
# (`python` is python3, as in the official image); this host's extra CA certificates and
# a pip `cert` setting that trusts them go along, for a PyPI reached through an intercepting proxy.
# `docker import` makes it an image (podman's `import` takes the same arguments: BUILDER=podman).
# Needs root, debootstrap (Debian: apt-get install debootstrap) and a running builder.
set -eu
TAG=${1:-coral-base:bookworm}
BUILDER=${BUILDER:-docker}
ROOTFS=$(mktemp -d /tmp/coral-base-XXXXXX)
trap 'rm -rf "$ROOTFS"' EXIT

debootstrap --variant=minbase \
    --include=python3,python3-venv,python-is-python3,ca-certificates \
    bookworm "$ROOTFS" >"$ROOTFS.log" 2>&1 || { tail -20 "$ROOTFS.log"; exit 1; }
rm -f "$ROOTFS.log"

if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
    cp /usr/local/share/ca-certificates/*.crt "$ROOTFS/usr/local/share/ca-certificates/"
    chroot "$ROOTFS" update-ca-certificates >/dev/null 2>&1
    # pip trusts its own certificate bundle, not the system's, unless told
    printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$ROOTFS/etc/pip.conf"
fi
# What the official slim images leave out too: package lists, caches, documentation.
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin \
    "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/usr/share/doc/* \
    "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* "$ROOTFS"/usr/share/locale/*

tar --numeric-owner -C "$ROOTFS" -c . | "$BUILDER" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    - "$TAG" >/dev/null
"$BUILDER" run --rm "$TAG" python --version
echo "made $TAG"

#!/usr/bin/env bash
# Build git 2.47.3 for the tests of the git helper with a git newer than the system's (issue 10), once
# per machine, outside the clone: the tests look for it at $AUTHD_TEST_GIT_PREFIX (default
# /opt/authd-test-git/2.47.3) and this script does nothing when it is already there.
#
# It only builds from git's own source tarball, git-2.47.3.tar.gz (GPL-2.0), which is not part of this
# repository and is never copied into it: found at $AUTHD_GIT_TARBALL, or in a directory shared/vendor
# beside the clone or beside one of its parents (../shared/vendor, ../../shared/vendor, ...).
# The source tree stays at $PREFIX/src/git-2.47.3 (git's own t/t0303-credential-external.sh needs
# the built tree, not only the installed git).
#
# Needs: libcurl4-openssl-dev zlib1g-dev libexpat1-dev make gcc (installed here with apt-get when
# missing and running as root).
set -euo pipefail
version=2.47.3
prefix=${AUTHD_TEST_GIT_PREFIX:-/opt/authd-test-git/$version}
repo=$(cd "$(dirname "$0")/.." && pwd)

if [ -e "$prefix/.built" ]; then
  echo "git $version: already built at $prefix"
  exit 0
fi

tarball=${AUTHD_GIT_TARBALL:-}
if [ -z "$tarball" ]; then
  dir=$repo
  while [ "$dir" != / ]; do
    dir=$(dirname "$dir")
    if [ -e "$dir/shared/vendor/git-$version.tar.gz" ]; then tarball=$dir/shared/vendor/git-$version.tar.gz; break; fi
  done
  # This workplace keeps shared/ at /work/shared, whatever directory CI clones into.
  [ -n "$tarball" ] || [ ! -e "/work/shared/vendor/git-$version.tar.gz" ] || tarball=/work/shared/vendor/git-$version.tar.gz
fi
if [ -z "$tarball" ] || [ ! -e "$tarball" ]; then
  echo "build-test-git: git-$version.tar.gz not found (looked for shared/vendor beside $repo and its parents);" >&2
  echo "  set AUTHD_GIT_TARBALL to its path" >&2
  exit 1
fi

need=()
[ -e /usr/include/curl/curl.h ] || [ -n "$(ls /usr/include/*/curl/curl.h 2>/dev/null)" ] || need+=(libcurl4-openssl-dev)
[ -e /usr/include/zlib.h ] || need+=(zlib1g-dev)
[ -e /usr/include/expat.h ] || need+=(libexpat1-dev)
command -v make >/dev/null 2>&1 || need+=(make)
command -v gcc >/dev/null 2>&1 || need+=(gcc)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "build-test-git: install ${need[*]} first" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

echo "git $version: building from $tarball into $prefix"
start=$(date +%s)
# Built in place under $prefix/src (the test suite's bin-wrappers hold the build directory's path, so
# the tree cannot be moved after the build); $prefix/.built is written last, so an interrupted build is
# started again from scratch.
rm -rf "$prefix"
mkdir -p "$prefix/src"
tar -xzf "$tarball" -C "$prefix/src"
log=$prefix/src/build.log
make -C "$prefix/src/git-$version" -j"$(nproc)" prefix="$prefix" NO_TCLTK=1 NO_GETTEXT=1 install >"$log" 2>&1 \
  || { tail -50 "$log" >&2; echo "build-test-git: the build failed, see $log" >&2; exit 1; }
"$prefix/bin/git" --version
touch "$prefix/.built"
echo "git $version: built in $(( $(date +%s) - start )) s"

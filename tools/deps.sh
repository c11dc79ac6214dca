#!/usr/bin/env bash
# Install everything hallmark needs on a Debian 12 machine, idempotently.
#
#   tools/deps.sh            Debian packages + FAISS (C API) into .deps/ +
#                            playwright-core (npm, pinned) into tests/e2e/node_modules
#   tools/deps.sh --check    exit 0 when everything is present, 1 otherwise
#
# Why FAISS is rebuilt: Debian's libfaiss-dev ships the C API headers but not
# libfaiss_c, and its library is compiled for baseline x86-64 (no popcnt, no
# AVX2).  We rebuild Debian's own 1.7.3 source package with the C API on and
# -march=x86-64-v3, into a git-ignored prefix, and link it with an rpath.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
prefix="$top/.deps"
faiss_stamp="$prefix/.faiss-1.7.3-c-api-v3-origin"

pkgs=(
  build-essential pkg-config cmake dpkg-dev
  libvips-dev libturbojpeg0-dev libzmq3-dev liblmdb-dev lmdb-utils check
  libjansson-dev libmicrohttpd-dev libsodium-dev libopenblas-dev
  clang libclang-rt-14-dev python3-zmq
  libopencv-contrib-dev gnuplot-nox fonts-dejavu-core  # bench/: the OpenCV PHash peer, the report's plots, vips_text fonts
  libfaiss-dev  # only for FAISS's C++ headers (index/hm_faiss_binary.cpp); same 1.7.3 source
  chromium nodejs  # the review console's browser test (tests/e2e, playwright-core from npm)
  nats-server libnats-dev  # the fleet (docs/DEPLOYMENT.md): JetStream streams, KV, core request/reply
  libsystemd-dev  # sd_notify readiness, watchdog and journald priorities
  prometheus  # promtool: `make test` checks /metrics with `promtool check metrics`
  help2man  # man pages generated from the binaries' --help
  libseccomp-dev python3-seccomp  # tests/: the systemd unit's SystemCallFilter applied to hallmarkd before it starts
  python3-venv python3-setuptools python3-pip  # clients/python: pip install into a venv made by the Makefile
)

# playwright-core at the version pinned in tests/e2e/package.json (and its
# lock file), driving Debian's /usr/bin/chromium: it never downloads a browser.
e2e="$top/tests/e2e"
have_e2e() {
  local want
  want=$(sed -n 's/.*"playwright-core": *"\([^"]*\)".*/\1/p' "$e2e/package.json" | head -1)
  [ -n "$want" ] && grep -q "\"version\": *\"$want\"" "$e2e/node_modules/playwright-core/package.json" 2>/dev/null
}

have_pkgs() {
  local missing
  missing=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' "${pkgs[@]}" 2>/dev/null \
            | awk '$1 != "ii" {print $2}')
  # dpkg-query prints nothing for unknown packages: count what it listed.
  local listed
  listed=$(dpkg-query -W -f='${db:Status-Abbrev}\n' "${pkgs[@]}" 2>/dev/null | grep -c '^ii' || true)
  [ -z "$missing" ] && [ "$listed" -eq "${#pkgs[@]}" ]
}

have_faiss() {
  [ -f "$faiss_stamp" ] && [ -f "$prefix/lib/libfaiss_c.so" ] && [ -f "$prefix/lib/libfaiss.so" ]
}

if [ "${1:-}" = "--check" ]; then
  have_pkgs && have_faiss && have_e2e && exit 0
  exit 1
fi

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! have_pkgs; then
  echo "deps: installing Debian packages: ${pkgs[*]}" >&2
  as_root apt-get update -q
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends "${pkgs[@]}"
fi

if ! have_faiss; then
  echo "deps: building FAISS 1.7.3 (C API, x86-64-v3) into $prefix" >&2
  work="$prefix/src"
  rm -rf "$work"; mkdir -p "$work"
  # A temporary deb-src list derived from the machine's own deb entries: the
  # same mirrors and suites, only Types changed.  Removed again on exit.
  srclist=/etc/apt/sources.list.d/hallmark-deb-src.sources
  cleanup() { as_root rm -f "$srclist"; }
  trap cleanup EXIT
  {
    for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list; do
      [ -f "$f" ] || continue
      case "$f" in "$srclist") continue;; esac
      if [[ "$f" == *.sources ]]; then
        # deb822: keep stanzas whose Types include deb and whose URI is Debian's.
        awk 'BEGIN{RS=""; ORS="\n\n"} /Types:[^\n]*deb/ && /URIs:[^\n]*debian/ {
               gsub(/Types:[^\n]*/, "Types: deb-src"); print }' "$f"
      else
        awk '$1=="deb" && $2 ~ /debian/ {
               printf "Types: deb-src\nURIs: %s\nSuites: %s\nComponents:", $2, $3;
               for (i=4;i<=NF;i++) printf " %s", $i; printf "\n\n" }' "$f"
      fi
    done
  } | as_root tee "$srclist" >/dev/null
  as_root apt-get update -q -o Dir::Etc::sourcelist="$srclist" -o Dir::Etc::sourceparts=- \
          -o APT::Get::List-Cleanup=0
  (cd "$work" && apt-get source -q --download-only faiss=1.7.3-2 2>/dev/null \
     || (cd "$work" && apt-get source -q --download-only faiss))
  (cd "$work" && dpkg-source -x --skip-patches faiss_*.dsc faiss >/dev/null 2>&1 \
     || dpkg-source -x faiss_*.dsc faiss >/dev/null)
  src="$work/faiss"
  grep -q 'FAISS_VERSION_MAJOR 1' "$src/faiss/Index.h"
  cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release \
        -DFAISS_ENABLE_C_API=ON -DBUILD_SHARED_LIBS=ON -DFAISS_ENABLE_GPU=OFF \
        -DFAISS_ENABLE_PYTHON=OFF -DBUILD_TESTING=OFF -DFAISS_OPT_LEVEL=generic \
        -DCMAKE_CXX_FLAGS="-march=x86-64-v3" -DCMAKE_C_FLAGS="-march=x86-64-v3" \
        -DCMAKE_BUILD_RPATH='$ORIGIN' -DCMAKE_INSTALL_PREFIX="$prefix" \
        -DCMAKE_INSTALL_LIBDIR=lib >/dev/null
  cmake --build "$work/build" --target faiss_c -j"$(nproc)"
  mkdir -p "$prefix/lib" "$prefix/include/faiss/c_api"
  cp -a "$work"/build/faiss/libfaiss.so* "$prefix/lib/"
  cp -a "$work"/build/c_api/libfaiss_c.so* "$prefix/lib/"
  (cd "$src/c_api" && find . -name '*.h' -exec cp --parents {} "$prefix/include/faiss/c_api/" \;)
  rm -rf "$work"
  rm -f "$prefix"/.faiss-*
  touch "$faiss_stamp"
fi
if ! have_e2e; then
  if ! command -v npm >/dev/null; then
    # Debian's nodejs ships npm separately (NodeSource's includes it).
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends npm
  fi
  echo "deps: npm ci playwright-core into $e2e/node_modules" >&2
  (cd "$e2e" && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "deps: ok" >&2

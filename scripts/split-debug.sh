#!/usr/bin/env bash
# Ships release binaries and shared libraries stripped, with their debug info split off
# (the GNU debuglink convention, as Debian's dh_strip does):
#
#   scripts/split-debug.sh FILE...
#
# For each ELF FILE (changed in place): its debug info (the line tables of the release
# profile's `debug = 1`) goes to `DIR/.debug/NAME.debug` beside it (DIR is FILE's directory;
# TOLLGATE_DEBUG_DIR overrides it), compressed; FILE is stripped of debug info and of the
# symbols nothing links against (a shared library keeps its exported symbols), and gets a
# `.gnu_debuglink` section naming the debug file and its CRC, so gdb, valgrind and perf find it
# in `DIR/.debug/` by themselves. A static library (`.a`) is only stripped of debug info: the
# program that links it carries what it needs. Fails on a file that is not ELF.
#
# Used by `make -C bindings/c install` (libtollgate.so, libtollgate.a), bindings/java/test.sh
# (the JNI library in the jar) and scripts/dist.sh (the release binaries).
set -euo pipefail
[ "$#" -gt 0 ] || { echo "usage: $0 FILE..." >&2; exit 2; }
for f in "$@"; do
  case "$f" in
    *.a)
      objcopy --strip-debug "$f"
      continue
      ;;
  esac
  if [ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" != '177ELF' ]; then
    echo "$0: $f is not an ELF file" >&2
    exit 1
  fi
  dir="${TOLLGATE_DEBUG_DIR:-$(dirname "$f")/.debug}"
  mkdir -p "$dir"
  debug="$dir/$(basename "$f").debug"
  objcopy --only-keep-debug --compress-debug-sections=zlib "$f" "$debug"
  chmod 0644 "$debug"
  objcopy --strip-debug --strip-unneeded --remove-section=.gnu_debuglink "$f"
  objcopy --add-gnu-debuglink="$debug" "$f"
done

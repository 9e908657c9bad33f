#!/usr/bin/env bash
# Writes `tollgate_vendor_root.h`, the C header that compiles the vendor's ROOT public key into a
# product (the Mosquitto plugin, the example, the C tests), from the 64 hex digits in the
# environment variable TOLLGATE_VENDOR_ROOT (what `tollgate vendor export-root --format hex`
# prints). The header defines `TOLLGATE_VENDOR_ROOT[32]`, the array a product passes to
# `tollgate_config_new` / `tollgate_config_from_json`; it holds the same bytes as
# `tollgate vendor export-root --format c`.
#
# Usage: TOLLGATE_VENDOR_ROOT=<64 hex> bindings/c/vendor-root.sh OUT.h
# Fails (exit 1, nothing written) when the variable is unset or not 64 hex digits.
set -euo pipefail
out="${1:?usage: TOLLGATE_VENDOR_ROOT=<64 hex digits> $0 OUT.h}"
hex="${TOLLGATE_VENDOR_ROOT:-}"
if [ -z "$hex" ]; then
  echo "error: TOLLGATE_VENDOR_ROOT is not set: it must hold the vendor's root public key as 64" \
    "hex digits (tollgate vendor export-root --format hex); the development root is in" \
    ".cargo/config.toml" >&2
  exit 1
fi
if ! [[ "$hex" =~ ^[0-9a-fA-F]{64}$ ]]; then
  echo "error: TOLLGATE_VENDOR_ROOT must be 64 hex digits (the vendor's root public key), not" \
    "'$hex'" >&2
  exit 1
fi
hex="$(printf '%s' "$hex" | tr 'A-F' 'a-f')"
bytes=""
for i in $(seq 0 2 62); do
  sep=", "
  if [ "$i" -eq 0 ]; then sep=""; elif [ $((i % 16)) -eq 0 ]; then sep=$',\n    '; fi
  bytes+="${sep}0x${hex:$i:2}"
done
tmp="$(mktemp "$out.XXXXXX")"
cat > "$tmp" <<EOF
/*
 * The vendor's root public key (ed25519), compiled into the product: Tollgate trusts a usage
 * license only when this key certified the key that signed it. Generated from
 * TOLLGATE_VENDOR_ROOT=$hex
 * by bindings/c/vendor-root.sh; do not edit.
 */
#ifndef TOLLGATE_VENDOR_ROOT_H
#define TOLLGATE_VENDOR_ROOT_H

#include <stdint.h>

static const uint8_t TOLLGATE_VENDOR_ROOT[32] = {
    $bytes};

#endif
EOF
# Unchanged: keep the old file (and its time), so make rebuilds only when the key changes.
if cmp -s "$tmp" "$out"; then rm -f "$tmp"; else mv "$tmp" "$out"; fi

#!/usr/bin/env bash
# Seeds fuzz/seeds/<target>/ from the test vectors in tests/vectors/ (and a few built-in inputs).
#
# Tolerant by design: the vectors may be absent, partial or in any layout. Every file under
# tests/vectors/ (manifest.json included) is scanned for armored artifacts (`TGxx:…`) and license
# keys, and binary files that start with the `TG` magic are sorted by their type byte. Armored
# artifacts are also unarmored (base64url, CRC dropped) for the binary decoders. Nothing here is
# checked: a malformed vector is as good a seed as a valid one.
#
# Usage: fuzz/seed-corpus.sh [VECTORS_DIR]   (default: ../tests/vectors relative to this script)
set -euo pipefail
cd "$(dirname "$0")"
vectors="${1:-../tests/vectors}"
seeds=seeds
rm -rf "$seeds"
for t in license_key armor license usage_request usage_license deactivation_code lease key_certificate key_list usage_report verify verify_mutated; do
    mkdir -p "$seeds/$t"
done

# add TARGET < data: store stdin as a seed named by its SHA-1, as libFuzzer does.
add() {
    local tmp
    tmp="$(mktemp)"
    cat >"$tmp"
    if [ -s "$tmp" ]; then
        mv "$tmp" "$seeds/$1/$(sha1sum "$tmp" | cut -c1-40)"
    else
        rm -f "$tmp"
    fi
}

# unarmor TEXT: the artifact bytes of an armored text (no validation; empty on failure).
unarmor() {
    local b64="${1#*:}"
    b64="$(printf '%s' "$b64" | tr -d ' \t\r\n' | tr -- '-_' '+/')"
    while [ $(( ${#b64} % 4 )) -ne 0 ]; do b64="$b64="; done
    printf '%s' "$b64" | base64 -d 2>/dev/null | head -c -4 || true
}

target_of_prefix() {
    case "$1" in
        TGLC) echo license ;;
        TGRQ) echo usage_request ;;
        TGUL) echo usage_license ;;
        TGDC) echo deactivation_code ;;
        TGLS) echo lease ;;
        TGKC) echo key_certificate ;;
        TGKL) echo key_list ;;
        TGUR) echo usage_report ;;
    esac
}

target_of_type_byte() {
    case "$1" in
        01) echo license ;;
        02) echo usage_request ;;
        03) echo usage_license ;;
        04) echo deactivation_code ;;
        05) echo lease ;;
        06) echo key_certificate ;;
        07) echo key_list ;;
        08) echo usage_report ;;
    esac
}

# Built-in seeds, so that every target starts from something even without vectors.
printf '22AL6-EU6CP-M9H46-TPCXW-TRHYF' | add license_key
printf 'TGUL:aGVsbG-GphA2' | add armor
printf 'TGUL:aGVsbG-GphA2' | add verify
printf '\x00\x14' | add verify_mutated
printf '\x01\x14\x00\x40\x00\x00' | add verify_mutated

count=0
if [ -d "$vectors" ]; then
    while IFS= read -r -d '' f; do
        count=$((count + 1))
        head -c 4096 "$f" | add armor
        case "$(basename "$f")" in
            license_key*) add license_key <"$f" ;;
            usage_journal*) add usage_report <"$f" ;;
        esac
        # Binary artifacts: magic "TG", then the type byte.
        magic="$(head -c 3 "$f" | od -An -tx1 | tr -d ' \n')"
        case "$magic" in
            5447??)
                t="$(target_of_type_byte "${magic:4:2}")"
                [ -n "$t" ] && add "$t" <"$f"
                ;;
        esac
        # Armored artifacts anywhere in the file (a .txt vector, or a string in manifest.json).
        while IFS= read -r armored; do
            [ -n "$armored" ] || continue
            printf '%s' "$armored" | add armor
            t="$(target_of_prefix "${armored%%:*}")"
            [ -n "$t" ] || continue
            unarmor "$armored" | add "$t"
            if [ "$t" = usage_license ]; then
                printf '%s' "$armored" | add verify
            fi
        done < <(grep -aoE 'TG(LC|RQ|UL|DC|LS|KC|KL|UR):[A-Za-z0-9_-]+' "$f" || true)
        # License keys: five groups of five alphabet characters.
        while IFS= read -r key; do
            [ -n "$key" ] && printf '%s' "$key" | add license_key
        done < <(grep -aoiE '[2-9a-hj-np-z]{5}(-[2-9a-hj-np-z]{5}){4}' "$f" || true)
    done < <(find "$vectors" -type f -size -64k -print0)
    echo "seed-corpus: scanned $count files under $vectors"
else
    echo "seed-corpus: $vectors not found; built-in seeds only"
fi
for d in "$seeds"/*; do
    printf '  %-18s %s seeds\n' "$(basename "$d")" "$(find "$d" -type f | wc -l)"
done

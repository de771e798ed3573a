#!/usr/bin/env bash
# A user pulls a kernel and an image by name from a catalog served over HTTP
# (named in config.toml) and boots a VM from them; entries whose bundle has
# the wrong sha256 or is cut short fail, naming the entry, and leave nothing.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_enter_netns "$@"
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
e2e_instance main

# -- the catalog: bundles of the default kernel and image, served on loopback --
www=$E2E_TMP/www
mkdir -p "$www" "$E2E_TMP/img"
ln "$BANGER_ROOTFS" "$E2E_TMP/img/rootfs.ext4"
catalog=$www/catalog.json
must expect_rc 0 "$repo/scripts/make-bundle.sh" kernel "$BANGER_KERNEL_DIR" "$www/k.tar.zst" \
  --name stock-kernel --level 3 --catalog "$catalog" --url k.tar.zst
must expect_rc 0 "$repo/scripts/make-bundle.sh" image "$E2E_TMP/img" "$www/i.tar.zst" \
  --name tiny --kernel stock-kernel --level 3 --catalog "$catalog" --url i.tar.zst
# Two broken entries: a bundle whose sha256 is not the catalog's, and one cut
# short (the catalog's size and sha256 are the whole file's).
cp "$www/i.tar.zst" "$www/bad-sha.tar.zst"
printf 'x' | dd of="$www/bad-sha.tar.zst" bs=1 seek=2000 conv=notrunc 2>/dev/null
cp "$www/i.tar.zst" "$www/short.tar.zst"
python3 - "$catalog" <<'PY'
import json, os, sys
path = sys.argv[1]
c = json.load(open(path))
tiny = next(e for e in c["images"] if e["name"] == "tiny")
for name, url in (("bad-sha", "bad-sha.tar.zst"), ("short", "short.tar.zst")):
    e = dict(tiny, name=name, url=url)
    c["images"].append(e)
json.dump(c, open(path, "w"), indent=2)
PY
truncate -s 100000 "$www/short.tar.zst"
chmod -R a+rX "$www"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server --bind 127.0.0.1 --directory "$www" "$port" >"$E2E_TMP/http.log" 2>&1 &
e2e_track_pid $! http.server
wait_until 20 python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
  "http://127.0.0.1:$port/catalog.json" 2>/dev/null || abort "the catalog server did not start: $(cat "$E2E_TMP/http.log")"
printf '\n[catalog]\nsources = ["http://127.0.0.1:%s/catalog.json"]\n' "$port" \
  >>"$XDG_CONFIG_HOME/banger/config.toml"
must expect_rc 0 banger daemon start

# -- pull by name, boot -----------------------------------------------------------
expect_rc 1 banger kernel pull nosuch
expect_contains "$ERR" 'stock-kernel (amd64)' "an unknown kernel: the error lists what the catalogs have"
expect_rc 1 banger image pull tiny
expect_contains "$ERR" '"stock-kernel"' "an image whose kernel is missing: the kernel is named"
expect_contains "$ERR" "banger kernel pull" "and how to get it"
must expect_rc 0 banger kernel pull stock-kernel
expect_contains "$OUT" "kernel stock-kernel pulled" "kernel pull reports"
run banger kernel show stock-kernel --json
expect_json "$OUT" 'd["source"]' "catalog:stock-kernel" "the kernel records its catalog"
must expect_rc 0 banger image pull tiny --json
expect_json "$(tail -n1 <<<"${OUT%$'\n'}")" 'd["result"]["kernel"]' stock-kernel "the image boots the catalog's kernel"
expect_contains "$OUT" '"event":"progress"' "--json prints progress events"
expect_contains "$OUT" '"stage":"download"' "with the download stage"
expect_rc 0 banger image pull tiny
expect_contains "$OUT" "image tiny pulled from catalog:tiny" "pulling again answers with the image"
expect_rc 0 banger vm run --rm --image tiny -- cat /proc/version
expect_contains "$OUT" "Linux version" "a VM boots from the pulled kernel and image"

# -- broken bundles leave nothing ------------------------------------------------------
images_before=$(find "$(state_dir)/images" -mindepth 1 -maxdepth 1 | sort)
expect_rc 1 banger image pull bad-sha
expect_contains "$ERR" "bad-sha" "a wrong sha256: the error names the entry"
expect_contains "$ERR" "sha256" "and the check that failed"
expect_rc 1 banger image pull short
expect_contains "$ERR" "short" "a short bundle: the error names the entry"
expect_eq "$(find "$(state_dir)/images" -mindepth 1 -maxdepth 1 | sort)" "$images_before" \
  "failed catalog pulls leave nothing in the images dir"
expect_rc 1 banger image show bad-sha
expect_rc 1 banger image show short

expect_rc 0 banger image rm tiny
expect_rc 0 banger kernel rm stock-kernel
expect_nothing_left
e2e_pass

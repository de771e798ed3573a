#!/usr/bin/env python3
"""Writes the seed corpora of the file and packet fuzz targets (layer,
bundle, untar, dns, registry, settings) into test/fuzz/corpus/<target>/.

Run it after changing what a seed should hold; the output is checked in
(small files), so neither the fuzz build nor CI needs to run it. Crash
regressions found by fuzzing are copied next to these seeds by hand
(named regress-*), and this script never removes them.
"""
import gzip
import io
import os
import struct
import subprocess
import sys
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
LAYER_SEPARATOR = b"\n--banger-layer--\n"


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def tar(entries, fmt=tarfile.USTAR_FORMAT):
    """entries: (name, kind, payload, extra) with kind in file dir sym link
    fifo chr; payload is the content, link target or device numbers."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for name, kind, payload, extra in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = 1600000000
            ti.mode = extra.get("mode", 0o755 if kind == "dir" else 0o644)
            ti.uid = extra.get("uid", 0)
            ti.gid = extra.get("gid", 0)
            if "pax" in extra:
                ti.pax_headers = extra["pax"]
            data = None
            if kind == "file":
                ti.type = tarfile.REGTYPE
                ti.size = len(payload)
                data = io.BytesIO(payload)
            elif kind == "dir":
                ti.type = tarfile.DIRTYPE
            elif kind == "sym":
                ti.type = tarfile.SYMTYPE
                ti.linkname = payload
            elif kind == "link":
                ti.type = tarfile.LNKTYPE
                ti.linkname = payload
            elif kind == "fifo":
                ti.type = tarfile.FIFOTYPE
            elif kind == "chr":
                ti.type = tarfile.CHRTYPE
                ti.devmajor, ti.devminor = payload
            t.addfile(ti, data)
    # tarfile pads to a 10 KiB record; keep only the end-of-archive blocks,
    # since the fuzzers take inputs of at most 8 KiB.
    out = buf.getvalue().rstrip(b"\0")
    out += b"\0" * (-len(out) % 512)
    return out + b"\0" * 1024


def gz(data):
    return gzip.compress(data, mtime=0)


def zst(data):
    return subprocess.run(["zstd", "-q", "-c", "-19"], input=data,
                          stdout=subprocess.PIPE, check=True).stdout


def F(name, data=b"", **extra):
    return (name, "file", data, extra)


def D(name, **extra):
    return (name, "dir", None, extra)


def S(name, target):
    return (name, "sym", target, {})


def L(name, target):
    return (name, "link", target, {})


def layers():
    base = tar([
        D("./"), D("bin"), F("bin/sh", b"#!/bin/true\n", mode=0o4755),
        S("bin/ls", "sh"), L("bin/hard", "bin/sh"), D("etc"),
        F("etc/hostname", b"box\n", uid=1000, gid=1000),
        D("root", mode=0o700), F("root/.profile", b"PS1=x\n"),
        D("dev"), ("dev/null", "chr", (1, 3), {}), ("run/fifo", "fifo", None, {}),
        D("opt"), F("opt/a", b"a"), F("opt/b", b"b"),
        S("usr", "/opt"), F("usr/c", b"through a symlink"),
    ])
    write("layer", "00-base.tar", base)
    write("layer", "01-base.tar.gz", gz(base))
    write("layer", "02-base.tar.zst", zst(base))
    upper = tar([
        F("etc/.wh.hostname"), F("opt/.wh..wh..opq"), F("opt/new", b"n"),
        F("bin/sh", b"replaced"), D("etc/new.d"),
    ])
    write("layer", "03-two-layers", base + LAYER_SEPARATOR + gz(upper))
    hostile = tar([
        S("esc", "../../trap"), F("esc/x", b"escape?"),
        S("abs", "/"), F("abs/etc/y", b"inside the model"),
        S("loop", "loop"), F("../../trap/z", b"climb"),
        L("h", "../../trap/canary"),
    ])
    write("layer", "04-hostile.tar", hostile)
    xattr = tar([F("bin/ping", b"p", pax={"SCHILY.xattr.security.capability": "\x01"}),
                 F("etc/x", b"x", pax={"SCHILY.xattr.user.note": "n"})],
                fmt=tarfile.PAX_FORMAT)
    write("layer", "06-xattrs.tar", xattr)
    deep = tar([F("/".join(["a"] * 60) + "/f", b"deep")], fmt=tarfile.PAX_FORMAT)
    write("layer", "05-deep-pax.tar", deep)


def ext4(size=4096):
    b = bytearray(size)
    b[1024 + 56] = 0x53
    b[1024 + 57] = 0xEF
    return bytes(b)


def bundles():
    image = tar([
        F("manifest.json", b'{"kind":"image","name":"hello","arch":"amd64",'
          b'"kernel":"k","version":"1","distro":"debian"}'),
        F("rootfs.ext4", ext4()), F("work-seed.ext4", ext4()),
    ])
    write("bundle", "00-image.tar.zst", zst(image))
    kernel = tar([
        F("manifest.json", b'{"kind":"kernel","name":"k"}'),
        F("vmlinux", b"\x7fELF\x02\x01\x01" + b"k" * 100),
        F("initrd.img", b"initrd"), D("modules"), D("modules/6.1"),
        F("modules/6.1/modules.dep", b""), S("modules/6.1/build", "../6.1"),
    ])
    write("bundle", "01-kernel.tar.gz", gz(kernel))
    write("bundle", "02-kernel.tar", kernel)
    bad = tar([
        F("manifest.json", b'{"kind":"image"}'), S("rootfs.ext4", "/etc/passwd"),
        F("../escape", b"x"), L("work-seed.ext4", "manifest.json"),
    ])
    write("bundle", "03-hostile.tar", bad)


def workspaces():
    # As the CLI writes it: pax (libarchive's pax_restricted) with a pax
    # header only where ustar cannot hold a name.
    long_name = "src/" + "very-long-directory-name/" * 5 + "file.txt"
    ws = tar([
        D("repo"), F("repo/README.md", b"# hi\n"),
        F("repo/run.sh", b"#!/bin/sh\necho hi\n", mode=0o755),
        D("repo/src"), F("repo/" + long_name, b"long\n"),
        S("repo/link", "README.md"), S("repo/out", "/tmp"),
    ], fmt=tarfile.PAX_FORMAT)
    write("untar", "00-workspace.tar", ws)
    gnu = tar([F("a/" + "b" * 120, b"gnu long name"), S("s", "a")],
              fmt=tarfile.GNU_FORMAT)
    write("untar", "01-gnu.tar", gnu)
    hostile = tar([
        S("esc", "../trap"), F("esc/x", b"through a symlink"),
        F("ok", b"x"), L("hard", "ok"), ("dev", "chr", (1, 3), {}),
    ])
    write("untar", "02-hostile.tar", hostile)


def dns_query(qid, labels, qtype, extra=b"", qd=1, flags=0x0100, ar=0):
    out = struct.pack(">HHHHHH", qid, flags, qd, 0, 0, ar)
    for label in labels:
        out += bytes([len(label)]) + label
    out += b"\0" + struct.pack(">HH", qtype, 1)
    return out + extra


def dns():
    write("dns", "00-a-x-vm", dns_query(0x1234, [b"x", b"vm"], 1))
    write("dns", "01-aaaa-web-vm", dns_query(7, [b"Web", b"VM"], 28))
    write("dns", "02-apex", dns_query(8, [b"vm"], 255))
    write("dns", "03-nxdomain", dns_query(9, [b"a", b"b", b"vm"], 1))
    write("dns", "04-outside", dns_query(10, [b"example", b"com"], 1))
    opt = b"\0" + struct.pack(">HHIH", 41, 1232, 0, 0)
    write("dns", "05-edns", dns_query(11, [b"x", b"vm"], 1, opt, ar=1))
    write("dns", "06-internal", dns_query(12, [b"web", b"banger", b"internal"], 1))
    # A response with a compressed answer (decode_response's input).
    resp = dns_query(13, [b"x", b"vm"], 1, flags=0x8180)
    resp = resp[:6] + b"\0\1" + resp[8:]
    resp += struct.pack(">HHHIH", 0xC00C, 1, 1, 5, 4) + bytes([10, 0, 0, 2])
    write("dns", "07-response", resp)


def registry():
    d = "sha256:" + "a" * 64
    write("registry", "00-oci-manifest.json", (
        '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
        '"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":7},'
        '"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":100},'
        '{"mediaType":"application/vnd.oci.image.layer.v1.tar+zstd","digest":"%s","size":0}]}'
        % (d, d, d)).encode())
    write("registry", "01-index.json", (
        '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",'
        '"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s",'
        '"size":500,"platform":{"os":"linux","architecture":"amd64"}},'
        '{"digest":"%s","size":1,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}},'
        '{"digest":"%s","size":1,"platform":{"os":"unknown","architecture":"unknown"}}]}'
        % (d, d, d)).encode())
    write("registry", "02-docker-list.json", (
        '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json",'
        '"manifests":[{"mediaType":"application/vnd.docker.distribution.manifest.v2+json",'
        '"digest":"%s","size":9,"platform":{"os":"linux","architecture":"amd64"}}]}' % d).encode())
    write("registry", "03-docker-manifest.json", (
        '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",'
        '"config":{"digest":"%s","size":1},"layers":[{"mediaType":'
        '"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"%s","size":2}]}'
        % (d, d)).encode())
    write("registry", "04-token.json", b'{"token":"abc","expires_in":300,"issued_at":"2026-01-01T00:00:00Z"}')
    write("registry", "05-access-token.json", b'{"access_token":"xyz"}')
    write("registry", "06-config.json", b'{"architecture":"amd64","os":"linux","variant":"",'
          b'"config":{"Env":["PATH=/bin"],"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":[]}}')
    write("registry", "07-untyped-index.json", ('{"manifests":[{"digest":"%s","size":3}]}' % d).encode())


def settings():
    write("settings", "00-all.toml", b'''[network]
bridge = "banger0"
subnet = "172.16.0.0/24"
dns = "172.16.0.1:53"
tap_pool = 2
tap_prefix = "bgtap"

[vm]
stop_timeout = 10
boot_timeout = 120
vcpu = 2
memory = 512
disk_size = "8G"
accel = "auto"

[catalog]
sources = ["https://example.org/banger/catalog.json", "catalog.json", "file:///srv/c.json"]

[guest]
files = ["~/.config/tool/auth.json", "/etc/tool.conf:.config/tool.conf"]
''')
    write("settings", "01-inline.toml", b'network = { subnet = "10.9.0.0/16", tap_pool = 0 }\n'
          b'vm.accel = "tcg"\nvm.memory = 64\n')
    write("settings", "02-empty.toml", b"")


def main():
    layers()
    bundles()
    workspaces()
    dns()
    registry()
    settings()
    return 0


if __name__ == "__main__":
    sys.exit(main())

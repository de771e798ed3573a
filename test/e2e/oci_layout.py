#!/usr/bin/env python3
"""Writes an OCI image layout from layer tarballs, for the e2e pull tests.

  oci_layout.py DIR TAG IMAGE [IMAGE...]

IMAGE is ARCH=LAYER[,LAYER...]; each LAYER is a compressed tarball whose
media type follows its suffix (.tar.gz -> +gzip, .tar.zst -> +zstd, .tar ->
uncompressed). One IMAGE tags its manifest; several tag an index of them.
Prints the digest of what TAG names, then ARCH=<manifest digest> per image.
"""
import gzip
import hashlib
import json
import os
import subprocess
import sys


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def add_blob(root, data):
    digest = sha256(data)
    path = os.path.join(root, "blobs", "sha256", digest.split(":", 1)[1])
    with open(path, "wb") as f:
        f.write(data)
    return digest


def uncompressed(path, data):
    if path.endswith(".gz"):
        return gzip.decompress(data)
    if path.endswith(".zst"):
        return subprocess.run(["zstd", "-dc", path], check=True,
                              stdout=subprocess.PIPE).stdout
    return data


def media_type(path):
    base = "application/vnd.oci.image.layer.v1.tar"
    if path.endswith(".gz"):
        return base + "+gzip"
    if path.endswith(".zst"):
        return base + "+zstd"
    return base


def descriptor(mt, digest, size, **extra):
    d = {"mediaType": mt, "digest": digest, "size": size}
    d.update(extra)
    return d


def image(root, arch, layers):
    descs, diff_ids = [], []
    for path in layers:
        with open(path, "rb") as f:
            data = f.read()
        descs.append(descriptor(media_type(path), add_blob(root, data),
                                len(data)))
        diff_ids.append(sha256(uncompressed(path, data)))
    config = json.dumps({
        "architecture": arch, "os": "linux",
        "config": {"Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }).encode()
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": descriptor("application/vnd.oci.image.config.v1+json",
                             add_blob(root, config), len(config)),
        "layers": descs,
    }).encode()
    return descriptor("application/vnd.oci.image.manifest.v1+json",
                      add_blob(root, manifest), len(manifest))


def main():
    root, tag, specs = sys.argv[1], sys.argv[2], sys.argv[3:]
    os.makedirs(os.path.join(root, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(root, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    manifests = []
    for spec in specs:
        arch, layers = spec.split("=", 1)
        m = image(root, arch, layers.split(","))
        m["platform"] = {"architecture": arch, "os": "linux"}
        manifests.append((arch, m))
    if len(manifests) == 1:
        top = dict(manifests[0][1])
        del top["platform"]
    else:
        index = json.dumps({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [m for _, m in manifests],
        }).encode()
        top = descriptor("application/vnd.oci.image.index.v1+json",
                         add_blob(root, index), len(index))
    top["annotations"] = {"org.opencontainers.image.ref.name": tag}
    index_path = os.path.join(root, "index.json")
    entries = []
    if os.path.exists(index_path):
        with open(index_path) as f:
            entries = [e for e in json.load(f)["manifests"]
                       if e.get("annotations", {}).get(
                           "org.opencontainers.image.ref.name") != tag]
    with open(index_path, "w") as f:
        json.dump({"schemaVersion": 2, "manifests": entries + [top]}, f)
    print(top["digest"])
    for arch, m in manifests:
        print("%s=%s" % (arch, m["digest"]))


if __name__ == "__main__":
    main()

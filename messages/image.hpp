#pragma once
// The image and kernel protocols between the CLI and bangerd.
//
//   "image.list"    {}                    -> image_list
//   "image.import"  image_import_request  -> image_info
//   "kernel.list"   {}                    -> kernel_list
//   "kernel.import" kernel_import_request -> kernel_info
//   "image.pull"    image_pull_request    -> "progress" events, then image_info
//   "kernel.pull"   kernel_pull_request   -> "progress" events, then kernel_info
//   "image.build"   image_build_request   -> "progress"/"output" events, then image_info

#include <cstdint>
#include <string>
#include <vector>

#include "messages/agent.hpp"
#include "messages/wire.hpp"

namespace banger {

/// A root filesystem (raw ext4) that VMs boot from, copy-on-write.
struct image_info {
  std::string name;
  std::string kernel;   // the kernel VMs of this image boot by default
  std::string rootfs;   // absolute path inside banger's state dir
  std::uint64_t size_bytes = 0;
  std::string created_at;
  /// Where it came from: an OCI reference, "catalog:NAME", "build:BASE" or
  /// "" (imported from local files).
  std::string source;
  /// The content it was made from: the OCI manifest digest or the bundle's
  /// sha256 ("sha256:..."); "" when imported.
  std::string digest;
  /// The image's /root as a small ext4 (absolute path), cloned and grown
  /// into each VM's work disk; "" when the image has none (its VMs copy
  /// /root from the root filesystem on first boot).
  std::string work_seed;
};

/// A guest kernel: ELF vmlinux, initramfs with banger-init, modules.
struct kernel_info {
  std::string name;
  std::string vmlinux;
  std::string initrd;
  std::string version;  // the kernel release, e.g. 6.1.0-28-amd64
  std::string created_at;
  /// "catalog:NAME" when pulled, "" when imported.
  std::string source;
  /// The bundle's sha256 ("sha256:...") when pulled.
  std::string digest;
};

struct image_list {
  std::vector<image_info> images;
};

struct kernel_list {
  std::vector<kernel_info> kernels;
};

struct image_import_request {
  std::string name;
  std::string rootfs; // a raw ext4 file on the host; copied in
  std::string kernel; // empty: the default kernel
  std::string work_seed; // optional: an ext4 holding the image's /root
};

/// `banger image pull REF`: an OCI reference, or the name of a catalog
/// image (a catalog entry wins over a Docker Hub short name).
struct image_pull_request {
  std::string ref;
  std::string name;   // empty: derived from the reference
  std::string kernel; // empty: the catalog's choice, else "default"
  std::uint64_t size_bytes = 0; // 0: fit the content with headroom
};

/// `banger image build NAME --from-image BASE -- CMD...`: boots BASE, runs
/// the command through the agent, publishes the VM's disk as NAME.
struct image_build_request {
  std::string name;
  std::string from;
  std::string kernel;           // empty: the base image's kernel
  std::uint64_t size_bytes = 0; // 0: the base's size; never smaller
  bool nat = false;             // the command may reach the internet
  exec_spec exec;
};

/// `banger kernel pull NAME` from a catalog.
struct kernel_pull_request {
  std::string name;
};

struct kernel_import_request {
  std::string name;
  std::string from; // a directory holding vmlinux (+ initrd.img, version)
};

wire::json to_json(const image_info& x);
void from_json(const wire::json& j, image_info& x);
wire::json to_json(const kernel_info& x);
void from_json(const wire::json& j, kernel_info& x);
wire::json to_json(const image_list& x);
void from_json(const wire::json& j, image_list& x);
wire::json to_json(const kernel_list& x);
void from_json(const wire::json& j, kernel_list& x);
wire::json to_json(const image_import_request& x);
void from_json(const wire::json& j, image_import_request& x);
wire::json to_json(const kernel_import_request& x);
void from_json(const wire::json& j, kernel_import_request& x);
wire::json to_json(const image_pull_request& x);
void from_json(const wire::json& j, image_pull_request& x);
wire::json to_json(const image_build_request& x);
void from_json(const wire::json& j, image_build_request& x);
wire::json to_json(const kernel_pull_request& x);
void from_json(const wire::json& j, kernel_pull_request& x);

} // namespace banger

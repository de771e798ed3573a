#pragma once
// The image and kernel protocols between the CLI and bangerd.
//
//   "image.list"    {}                    -> image_list
//   "image.import"  image_import_request  -> image_info
//   "kernel.list"   {}                    -> kernel_list
//   "kernel.import" kernel_import_request -> kernel_info

#include <cstdint>
#include <string>
#include <vector>

#include "messages/wire.hpp"

namespace banger {

/// A root filesystem (raw ext4) that VMs boot from, copy-on-write.
struct image_info {
  std::string name;
  std::string kernel;   // the kernel VMs of this image boot by default
  std::string rootfs;   // absolute path inside banger's state dir
  std::uint64_t size_bytes = 0;
  std::string created_at;
};

/// A guest kernel: ELF vmlinux, initramfs with banger-init, modules.
struct kernel_info {
  std::string name;
  std::string vmlinux;
  std::string initrd;
  std::string version;  // the kernel release, e.g. 6.1.0-28-amd64
  std::string created_at;
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

} // namespace banger

#pragma once
// Catalog bundles (docs/catalog.md): a tar (zstd, gzip or uncompressed)
// holding an image or a kernel.
//
//   image:  manifest.json, rootfs.ext4, [work-seed.ext4]
//   kernel: manifest.json, vmlinux (ELF) or vmlinuz (bzImage / arm64 Image),
//           [initrd.img], [modules/...]
//
// fetch_bundle downloads one and checks it against the catalog's size and
// sha256; unpack_bundle extracts it, refusing anything but the layout above.
// Blocking: call from detached actors or workers only. Neither leaves a
// partial file behind on failure or cancel.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include <caf/expected.hpp>

#include "services/catalog.hpp"
#include "services/data_limits.hpp"

namespace banger {

struct bundle_fetch_options {
  /// Where the bundle is written (created if missing).
  std::string work_dir;
  /// Called after every chunk (and once with done = 0); total = entry.size.
  std::function<void(std::uint64_t done, std::uint64_t total)> on_progress;
  /// Checked between chunks: true stops the fetch with ec::cancelled.
  std::atomic<bool>* cancel = nullptr;
  std::chrono::seconds connect_timeout{10};
  std::chrono::seconds read_timeout{60};
};

/// Downloads entry.url (http, https, file:// or a path) to
/// <work_dir>/<kind>-<name>-<first 12 of sha256>.bundle through a temporary
/// name, hashing as it goes, and returns that path once size and sha256
/// match the entry. Errors name the entry and the URL: ec::not_found (404,
/// no such file), ec::unavailable (unreachable, 5xx, ENOSPC and other write
/// errors), ec::bad_state (wrong size or sha256, truncated body: the
/// message gives expected and actual), ec::cancelled.
caf::expected<std::string> fetch_bundle(const catalog_entry& entry,
                                        const bundle_fetch_options& opts);

/// A bundle's manifest.json.
struct bundle_manifest {
  /// "image" or "kernel".
  std::string kind;
  std::string name;
  std::string arch;
  /// Images: the kernel it boots with.
  std::string kernel;
  std::string version;
  std::string distro;
};

/// Parses manifest.json: an object whose kind is "image" or "kernel" and
/// whose other fields, when present, are strings (unknown keys are
/// ignored). `where` names the file in errors (ec::invalid_argument).
caf::expected<bundle_manifest> parse_bundle_manifest(std::string_view json,
                                                     const std::string& where);

/// What unpack_bundle found, as absolute paths ("" when absent).
struct bundle_contents {
  std::string dir;
  bundle_manifest manifest;
  std::string manifest_path;
  /// Images.
  std::string rootfs;
  std::string work_seed;
  /// Kernels: vmlinux when the bundle has one, else vmlinuz.
  std::string kernel_image;
  bool kernel_is_elf = false;
  std::string initrd;
  std::string modules;
};

/// Extracts `archive` into `dest_dir` (created if missing; must be empty if
/// it exists) and checks it is a `kind` bundle: only the names above at the
/// top, only regular files and directories (symlinks only inside modules/,
/// relative and staying inside it), no "..", no absolute names, no hardlinks
/// or device nodes; manifest.json of that kind; rootfs.ext4/work-seed.ext4
/// ext4 images, vmlinux ELF. Files are written sparse (holes in the archive
/// and zero blocks are not allocated). `limits` bound the entries, names,
/// depth and declared bytes; the bytes written must fit the free space of
/// dest_dir's filesystem less limits.free_margin (checked before each
/// write). Errors: ec::invalid_argument (unsafe or incomplete bundle, or a
/// limit passed, naming the entry), ec::already_exists (dest_dir not empty),
/// ec::unavailable (no room, ENOSPC and other write errors), ec::cancelled;
/// on any error dest_dir is left as it was before (removed if created).
caf::expected<bundle_contents>
unpack_bundle(const std::string& archive, const std::string& dest_dir,
              std::string_view kind, std::atomic<bool>* cancel = nullptr,
              const data_limits& limits = {});

} // namespace banger

#pragma once
// Importing local artifacts into banger's store (blocking; run in workers).
// Files are checked (ext4 superblock, ELF header) and copied into a temporary
// directory that is renamed into place only when complete, so a failure or a
// crash never leaves a half-imported image or kernel under its name.

#include <string>

#include <caf/expected.hpp>

#include "messages/image.hpp"

namespace banger {

/// Copies req.rootfs (a raw ext4 file) to <images_dir>/<name>/rootfs.ext4.
caf::expected<image_info> import_image(const std::string& images_dir,
                                       const image_import_request& req);

/// Finds the kernel in req.from (discover_kernel_files: banger's layout,
/// metadata.json/manifest.json, boot/vmlinuz-*, lib/modules/*) and copies it
/// to <kernels_dir>/<name>/: vmlinux (ELF) or vmlinuz, initrd.img if there is
/// one, modules/ if there are any, version. kernel_info.vmlinux is the
/// kernel file, whichever its name; initrd is "" without one.
caf::expected<kernel_info> import_kernel(const std::string& kernels_dir,
                                         const kernel_import_request& req);

/// Removes the directory holding an imported file (undo after a store error).
void discard_import(const std::string& file_in_dir);

} // namespace banger

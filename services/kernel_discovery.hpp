#pragma once
// Finds a kernel's pieces in a directory for `banger kernel import --from
// DIR`: banger's own layout (scripts/build-kernel.sh, an unpacked kernel
// bundle), a metadata.json/manifest.json naming files, or a distro-style tree
// (boot/vmlinuz-<ver>, boot/initrd.img-<ver>, lib/modules/<ver>).

#include <string>

#include <caf/expected.hpp>

namespace banger {

struct kernel_files {
  /// vmlinux (ELF) or vmlinuz (bzImage / arm64 Image); QEMU boots either.
  std::string kernel;
  bool kernel_is_elf = false;
  /// "" when there is none.
  std::string initrd;
  /// A directory holding the modules (lib/modules/<ver> or modules/); "".
  std::string modules;
  /// The kernel release, "" when nothing says.
  std::string version;
};

/// Looks in `dir`, in this order:
///  1. metadata.json, then manifest.json: string keys naming files relative
///     to dir (kernel: "vmlinux", "vmlinuz", "kernel" or "kernel_path";
///     initrd: "initrd", "initramfs" or "initrd_path"; modules: "modules" or
///     "modules_dir") and "version" / "kernel_version". A named file that is
///     missing is an error; pieces not named are searched for as below.
///  2. kernel: vmlinux, boot/vmlinux-*, vmlinuz, boot/vmlinuz-* (the newest
///     version of each glob; an ELF is preferred over a compressed kernel);
///  3. initrd: initrd.img, initrd, initramfs.img, boot/initrd.img-<ver>,
///     boot/initramfs-<ver>[.img] (the kernel's version first, else newest);
///  4. modules: modules/, lib/modules/<ver> (the kernel's version first,
///     else the newest);
///  5. version: the metadata, a "version" file, the lib/modules/<ver> name,
///     the kernel's boot/vmlinu?-<ver> name when it starts with a digit.
/// No kernel: ec::not_found listing what was looked for. Unreadable
/// metadata: ec::invalid_argument naming the file.
caf::expected<kernel_files> discover_kernel_files(const std::string& dir);

} // namespace banger

#pragma once
// Recognises the files banger boots from by their magic numbers, so a wrong
// file is refused at import or unpack time rather than when a VM starts.

#include <string>

namespace banger {

/// An ext2/3/4 filesystem image (superblock magic 0xEF53 at 1024+56).
bool is_ext_fs(const std::string& path);

/// An ELF file (a vmlinux).
bool is_elf(const std::string& path);

/// An x86 bzImage (a vmlinuz): "HdrS" at 0x202. QEMU boots it with -kernel.
bool is_bzimage(const std::string& path);

/// An arm64 kernel Image ("ARM\x64" at 0x38), what arm64 distros ship as
/// vmlinuz when it is not compressed.
bool is_arm64_image(const std::string& path);

} // namespace banger

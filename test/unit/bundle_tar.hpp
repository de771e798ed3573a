#pragma once
// Writes bundle tarballs for the bundle tests with libarchive, including the
// unsafe ones a hostile catalog could serve.

#include <cstdint>
#include <string>
#include <vector>

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

namespace banger::test {

struct tar_item {
  std::string path;
  unsigned type = AE_IFREG;
  std::string data;
  std::string link;     // symlink target
  std::string hardlink; // makes it a hardlink to this path
  // Sparse: a file of `sparse_size` zero bytes but for `data` at offset 0.
  std::int64_t sparse_size = 0;
};

inline tar_item reg(std::string path, std::string data) {
  return {std::move(path), AE_IFREG, std::move(data), {}, {}, 0};
}
inline tar_item dir(std::string path) {
  return {std::move(path), AE_IFDIR, {}, {}, {}, 0};
}
inline tar_item symlink_item(std::string path, std::string target) {
  return {std::move(path), AE_IFLNK, {}, std::move(target), {}, 0};
}

/// A minimal file that passes the ext4 magic check, `size` bytes long.
inline std::string ext4_bytes(std::size_t size = 4096) {
  std::string s(size, '\0');
  s[1024 + 56] = '\x53';
  s[1024 + 57] = '\xEF';
  return s;
}

inline std::string elf_bytes() {
  return std::string("\177ELF\x02\x01\x01", 7) + std::string(100, 'k');
}

enum class tar_filter { none, gzip, zstd };

inline void write_tar(const std::string& path,
                      const std::vector<tar_item>& items,
                      tar_filter filter = tar_filter::zstd) {
  auto* a = archive_write_new();
  archive_write_set_format_pax(a);
  if (filter == tar_filter::gzip)
    archive_write_add_filter_gzip(a);
  else if (filter == tar_filter::zstd)
    archive_write_add_filter_zstd(a);
  ASSERT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK);
  for (auto& t : items) {
    auto* e = archive_entry_new();
    archive_entry_set_pathname(e, t.path.c_str());
    archive_entry_set_mtime(e, 1600000000, 0);
    if (!t.hardlink.empty()) {
      archive_entry_set_filetype(e, AE_IFREG);
      archive_entry_set_perm(e, 0644);
      archive_entry_set_hardlink(e, t.hardlink.c_str());
      archive_entry_set_size(e, 0);
    } else {
      archive_entry_set_filetype(e, t.type);
      archive_entry_set_perm(e, t.type == AE_IFDIR ? 0755 : 0644);
      archive_entry_set_size(
          e, t.type == AE_IFREG ? static_cast<la_int64_t>(t.data.size()) : 0);
      if (t.sparse_size > 0) {
        archive_entry_set_size(e, t.sparse_size);
        archive_entry_sparse_add_entry(e, 0,
                                       static_cast<la_int64_t>(t.data.size()));
      }
      if (t.type == AE_IFLNK)
        archive_entry_set_symlink(e, t.link.c_str());
      if (t.type == AE_IFCHR || t.type == AE_IFBLK) {
        archive_entry_set_rdevmajor(e, 1);
        archive_entry_set_rdevminor(e, 3);
      }
    }
    ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK)
        << archive_error_string(a);
    if (t.sparse_size > 0) {
      // libarchive takes the logical file and leaves out the holes itself.
      std::string logical(static_cast<std::size_t>(t.sparse_size), '\0');
      logical.replace(0, t.data.size(), t.data);
      archive_write_data(a, logical.data(), logical.size());
    } else if (t.type == AE_IFREG && t.hardlink.empty() && !t.data.empty()) {
      archive_write_data(a, t.data.data(), t.data.size());
    }
    archive_entry_free(e);
  }
  ASSERT_EQ(archive_write_close(a), ARCHIVE_OK);
  archive_write_free(a);
}

} // namespace banger::test

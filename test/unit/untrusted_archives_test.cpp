// Archives nobody vouches for, at the sizes an attacker picks: decompression
// bombs (gzip, zstd, a zstd frame asking for a 2 GiB window), entry floods
// and deep trees, through the OCI layer reader (stage_rootfs: everything
// build_rootfs does before mke2fs), the bundle unpacker and the guest's
// workspace untar. Each must finish with a result or a clear error naming
// the archive, and keep its memory bounded whatever the archive expands to.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include "guest/agent/untar.hpp"
#include "services/bundle.hpp"
#include "services/error.hpp"
#include "services/process.hpp"
#include "services/rootfs_builder.hpp"
#include "test/unit/temp_dir.hpp"

namespace banger {
namespace {

using test::temp_dir;

constexpr std::uint64_t mib = 1ull << 20;
// What reading any archive here may add to the process's peak RSS.
constexpr std::uint64_t rss_budget = 64 * mib;

// The peak RSS (VmHWM), after resetting it, so that a test measures only
// what it does itself.
void reset_peak_rss() {
  std::ofstream("/proc/self/clear_refs") << "5";
}
std::uint64_t peak_rss() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmHWM:", 0) == 0)
      return std::stoull(line.substr(6)) * 1024;
  return 0;
}

// One entry; `fill` bytes of zeros follow a `data` prefix (a file of
// data.size() + fill bytes), written in chunks so the writer stays small.
struct item {
  std::string path;
  unsigned type = AE_IFREG;
  std::string data;
  std::uint64_t fill = 0;
  std::string link;
};

item file_item(std::string path, std::string data, std::uint64_t fill = 0) {
  return {std::move(path), AE_IFREG, std::move(data), fill, {}};
}
item dir_item(std::string path) {
  return {std::move(path), AE_IFDIR, {}, 0, {}};
}
item link_item(std::string path, std::string target) {
  return {std::move(path), AE_IFLNK, {}, 0, std::move(target)};
}

enum class filter { none, gzip, zstd };

void write_tar(const std::string& path, filter f, std::size_t count,
               const std::function<item(std::size_t)>& nth) {
  auto* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (f == filter::gzip)
    archive_write_add_filter_gzip(a);
  else if (f == filter::zstd)
    archive_write_add_filter_zstd(a);
  ASSERT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK);
  static const std::vector<char> zeros(mib);
  for (std::size_t i = 0; i < count; ++i) {
    auto t = nth(i);
    auto* e = archive_entry_new();
    archive_entry_set_pathname(e, t.path.c_str());
    archive_entry_set_filetype(e, t.type);
    archive_entry_set_perm(e, t.type == AE_IFDIR ? 0755 : 0644);
    archive_entry_set_size(
        e, t.type == AE_IFREG ? static_cast<la_int64_t>(t.data.size() + t.fill)
                              : 0);
    if (t.type == AE_IFLNK)
      archive_entry_set_symlink(e, t.link.c_str());
    ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK)
        << archive_error_string(a);
    archive_write_data(a, t.data.data(), t.data.size());
    for (auto left = t.fill; left > 0;) {
      auto n = std::min<std::uint64_t>(left, zeros.size());
      archive_write_data(a, zeros.data(), n);
      left -= n;
    }
    archive_entry_free(e);
  }
  ASSERT_EQ(archive_write_close(a), ARCHIVE_OK);
  archive_write_free(a);
}

// A zstd frame by hand: a window of 2^window_log bytes, then the blocks.
// RLE blocks (one byte repeated up to 128 KiB) make a 32768:1 bomb.
struct zstd_frame {
  std::string bytes;
  explicit zstd_frame(unsigned window_log) {
    bytes = std::string("\x28\xb5\x2f\xfd", 4);
    bytes += '\0'; // no content size, no checksum, no dictionary
    bytes += static_cast<char>((window_log - 10) << 3);
  }
  void block(unsigned type, std::uint32_t size, bool last) {
    std::uint32_t h = (size << 3) | (type << 1) | (last ? 1u : 0u);
    bytes += static_cast<char>(h & 0xff);
    bytes += static_cast<char>((h >> 8) & 0xff);
    bytes += static_cast<char>((h >> 16) & 0xff);
  }
  void raw(const std::string& data, bool last = false) {
    for (std::size_t at = 0; at < data.size(); at += 128 * 1024) {
      auto part = data.substr(at, 128 * 1024);
      block(0, static_cast<std::uint32_t>(part.size()),
            last && at + part.size() == data.size());
      bytes += part;
    }
  }
  void zeros(std::uint64_t n, bool last = false) {
    while (n > 0) {
      auto part =
          static_cast<std::uint32_t>(std::min<std::uint64_t>(n, 128 * 1024));
      n -= part;
      block(1, part, last && n == 0);
      bytes += '\0';
    }
  }
};

// A tar header for a regular file of `size` bytes (ustar, checksummed).
std::string tar_header(const std::string& name, std::uint64_t size) {
  std::string h(512, '\0');
  std::memcpy(h.data(), name.data(), std::min<std::size_t>(name.size(), 99));
  std::snprintf(h.data() + 100, 8, "%07o", 0644);
  std::snprintf(h.data() + 108, 8, "%07o", 0);
  std::snprintf(h.data() + 116, 8, "%07o", 0);
  std::snprintf(h.data() + 124, 12, "%011llo",
                static_cast<unsigned long long>(size));
  std::snprintf(h.data() + 136, 12, "%011o", 1600000000);
  h[156] = '0';
  std::memcpy(h.data() + 257,
              "ustar\0"
              "00",
              8);
  std::memset(h.data() + 148, ' ', 8);
  unsigned sum = 0;
  for (unsigned char c : h)
    sum += c;
  std::snprintf(h.data() + 148, 8, "%06o", sum);
  return h;
}

// A zstd-compressed tar holding one file `name`: `prefix`, then zeros up to
// `size` bytes, then the end-of-archive blocks.
std::string zstd_bomb(const std::string& name, const std::string& prefix,
                      std::uint64_t size, unsigned window_log = 17) {
  zstd_frame f(window_log);
  f.raw(tar_header(name, size) + prefix);
  f.zeros(size - prefix.size() + (512 - size % 512) % 512 + 1024, true);
  return f.bytes;
}

void write_file(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}

class UntrustedArchives : public ::testing::Test {
protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path().empty());
    work_ = tmp_.path() + "/work";
    ASSERT_EQ(::mkdir(work_.c_str(), 0700), 0);
  }

  caf::expected<std::uint64_t> stage(const std::string& layer,
                                     layer_compression c) {
    rootfs_options opts;
    opts.work_dir = work_;
    opts.output = tmp_.path() + "/never.ext4";
    return stage_rootfs({{layer, c}}, opts);
  }

  temp_dir tmp_{"banger-untrusted"};
  std::string work_;
};

// A refusal must name the archive it refuses.
template <class T>
void expect_ok_or_names(const caf::expected<T>& result,
                        const std::string& archive) {
  if (!result) {
    EXPECT_NE(error_message(result.error()).find(archive), std::string::npos)
        << error_message(result.error());
  }
}

TEST_F(UntrustedArchives, GzipBombLayerIsReadWithBoundedMemory) {
  // 128 MiB of zeros in about 128 KiB of gzip.
  auto layer = tmp_.path() + "/bomb.tar.gz";
  write_tar(layer, filter::gzip, 1,
            [](std::size_t) { return file_item("big", "x", 128 * mib); });
  EXPECT_LT(std::filesystem::file_size(layer), 2 * mib);
  reset_peak_rss();
  auto before = peak_rss();
  auto r = stage(layer, layer_compression::gzip);
  EXPECT_LT(peak_rss() - before, rss_budget);
  expect_ok_or_names(r, layer);
  if (r) {
    EXPECT_EQ(*r, 1u);
    EXPECT_EQ(std::filesystem::file_size(work_ + "/root/big"), 128 * mib + 1);
  }
}

TEST_F(UntrustedArchives, ZstdBombLayerIsReadWithBoundedMemory) {
  // 256 MiB of zeros in about 8 KiB of zstd RLE blocks.
  auto layer = tmp_.path() + "/bomb.tar.zst";
  write_file(layer, zstd_bomb("big", "head", 256 * mib));
  EXPECT_LT(std::filesystem::file_size(layer), 16 * 1024);
  reset_peak_rss();
  auto before = peak_rss();
  auto r = stage(layer, layer_compression::zstd);
  EXPECT_LT(peak_rss() - before, rss_budget);
  expect_ok_or_names(r, layer);
  if (r) {
    EXPECT_EQ(std::filesystem::file_size(work_ + "/root/big"), 256 * mib);
  }
}

TEST_F(UntrustedArchives, ZstdFrameAskingForAHugeWindowIsRefusedOrBounded) {
  // The frame header asks the decoder for a 2 GiB window (zstd --long=31).
  auto layer = tmp_.path() + "/window.tar.zst";
  write_file(layer, zstd_bomb("f", "data", 4096, 31));
  reset_peak_rss();
  auto before = peak_rss();
  auto r = stage(layer, layer_compression::zstd);
  EXPECT_LT(peak_rss() - before, rss_budget);
  expect_ok_or_names(r, layer);
}

TEST_F(UntrustedArchives, ZstdBombBundleIsUnpackedSparseWithBoundedMemory) {
  // rootfs.ext4 of 1 GiB, nearly all zeros: written as holes.
  std::string ext4(2048, '\0');
  ext4[1024 + 56] = '\x53';
  ext4[1024 + 57] = '\xEF';
  zstd_frame f(17);
  f.raw(tar_header("manifest.json", 16) + std::string("{\"kind\":\"image\"}")
        + std::string(496, '\0'));
  f.raw(tar_header("rootfs.ext4", 1024 * mib) + ext4);
  f.zeros(1024 * mib - ext4.size() + 1024, true);
  auto bundle = tmp_.path() + "/bomb.bundle";
  write_file(bundle, f.bytes);
  EXPECT_LT(std::filesystem::file_size(bundle), 64 * 1024);
  reset_peak_rss();
  auto before = peak_rss();
  auto r = unpack_bundle(bundle, work_ + "/out", "image");
  EXPECT_LT(peak_rss() - before, rss_budget);
  expect_ok_or_names(r, bundle);
  if (r) {
    struct stat st {};
    ASSERT_EQ(::stat(r->rootfs.c_str(), &st), 0);
    EXPECT_EQ(static_cast<std::uint64_t>(st.st_size), 1024 * mib);
    EXPECT_LT(static_cast<std::uint64_t>(st.st_blocks) * 512, mib)
        << "not sparse";
  }
}

TEST_F(UntrustedArchives, EntryFloodOfOneNameKeepsOneEntry) {
  // 200,000 entries all named "f": each replaces the last.
  auto layer = tmp_.path() + "/flood.tar.gz";
  write_tar(layer, filter::gzip, 200000, [](std::size_t i) {
    return link_item("f", "t" + std::to_string(i));
  });
  reset_peak_rss();
  auto before = peak_rss();
  auto r = stage(layer, layer_compression::gzip);
  EXPECT_LT(peak_rss() - before, rss_budget);
  expect_ok_or_names(r, layer);
  if (r) {
    EXPECT_EQ(*r, 1u);
    char target[32] = {};
    ASSERT_GT(
        ::readlink((work_ + "/root/f").c_str(), target, sizeof target - 1), 0);
    EXPECT_STREQ(target, "t199999");
  }
}

TEST_F(UntrustedArchives, EntryFloodOfDistinctDirectoriesIsStaged) {
  auto layer = tmp_.path() + "/dirs.tar.gz";
  write_tar(layer, filter::gzip, 5000,
            [](std::size_t i) { return dir_item("d/" + std::to_string(i)); });
  reset_peak_rss();
  auto before = peak_rss();
  auto r = stage(layer, layer_compression::gzip);
  EXPECT_LT(peak_rss() - before, rss_budget);
  expect_ok_or_names(r, layer);
  if (r) {
    EXPECT_EQ(*r, 5001u);
  }
  // libstdc++'s remove_all (temp_dir) is slow on thousands of siblings.
  auto rm = run({"rm", "-rf", "--", work_});
  ASSERT_TRUE(rm && rm->ok());
}

std::string deep_path(std::size_t depth, const std::string& leaf) {
  std::string p;
  for (std::size_t i = 0; i < depth; ++i)
    p += "a/";
  return p + leaf;
}

TEST_F(UntrustedArchives, DeepTreeLayerIsStaged) {
  // 1000 levels: a 2 KB path, below PATH_MAX (longer ones are refused by a
  // limit: services/rootfs_builder).
  auto layer = tmp_.path() + "/deep.tar";
  write_tar(layer, filter::none, 1, [](std::size_t) {
    return file_item(deep_path(1000, "f"), "deep");
  });
  auto r = stage(layer, layer_compression::none);
  expect_ok_or_names(r, layer);
  if (r) {
    EXPECT_EQ(*r, 1001u);
    int fd = ::open(work_.c_str(), O_RDONLY | O_DIRECTORY);
    ASSERT_GE(fd, 0);
    for (int i = 0; i < 1000; ++i) {
      int next = ::openat(fd, i == 0 ? "root/a" : "a",
                          O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
      ::close(fd);
      ASSERT_GE(next, 0) << "level " << i;
      fd = next;
    }
    struct stat st {};
    EXPECT_EQ(::fstatat(fd, "f", &st, AT_SYMLINK_NOFOLLOW), 0);
    EXPECT_EQ(st.st_size, 4);
    ::close(fd);
  }
}

TEST_F(UntrustedArchives, DeepTreeKernelBundleIsUnpacked) {
  auto bundle = tmp_.path() + "/deep.bundle";
  write_tar(bundle, filter::zstd, 3, [](std::size_t i) {
    if (i == 0)
      return file_item("manifest.json", R"({"kind":"kernel"})");
    if (i == 1)
      return file_item("vmlinux", std::string("\177ELF\x02\x01\x01", 7)
                                      + std::string(100, 'k'));
    return file_item("modules/" + deep_path(1000, "m.ko"), "ko");
  });
  auto r = unpack_bundle(bundle, work_ + "/out", "kernel");
  expect_ok_or_names(r, bundle);
}

// Found by fuzz_layer: a layer cut off inside the padding of a pax extended
// header makes libarchive fail with no message (a NULL error string); the
// reader crashed on it. It must be a clear error naming the layer.
TEST_F(UntrustedArchives, LayerCutInsideAPaxHeaderIsAnError) {
  auto layer = tmp_.path() + "/cut.tar";
  write_tar(layer, filter::none, 1,
            [](std::size_t) { return file_item(deep_path(150, "f"), "data"); });
  std::filesystem::resize_file(layer, 1019);
  auto r = stage(layer, layer_compression::none);
  ASSERT_FALSE(r);
  expect_ok_or_names(r, layer);
}

TEST_F(UntrustedArchives, BundleCutInsideAPaxHeaderIsAnError) {
  auto bundle = tmp_.path() + "/cut.bundle";
  write_tar(bundle, filter::none, 1, [](std::size_t) {
    return file_item("modules/" + deep_path(150, "m.ko"), "ko");
  });
  std::filesystem::resize_file(bundle, 1019);
  auto r = unpack_bundle(bundle, work_ + "/out", "kernel");
  ASSERT_FALSE(r);
  expect_ok_or_names(r, bundle);
}

// The guest's workspace untar, fed from a string.
agent::untar_stats untar_string(const std::string& tar,
                                const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  EXPECT_GE(fd, 0);
  std::size_t at = 0;
  auto stats = agent::untar(fd, [&](char* buf, std::size_t size) {
    auto n = std::min(size, tar.size() - at);
    std::memcpy(buf, tar.data() + at, n);
    at += n;
    return n;
  });
  ::close(fd);
  return stats;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

TEST_F(UntrustedArchives, WorkspaceUntarOfAnEntryFloodAndADeepTree) {
  auto flood = tmp_.path() + "/flood.tar";
  write_tar(flood, filter::none, 10000, [](std::size_t i) {
    return i == 0 ? file_item(deep_path(1000, "deep"), "d")
                  : file_item("w/" + std::to_string(i % 5000), "x");
  });
  auto tar = read_all(flood);
  reset_peak_rss();
  auto before = peak_rss();
  auto stats = untar_string(tar, work_);
  EXPECT_LT(peak_rss() - before, rss_budget);
  EXPECT_EQ(stats.files, 10000u);
  struct stat st {};
  EXPECT_EQ(::stat((work_ + "/w/4999").c_str(), &st), 0);
}

} // namespace
} // namespace banger

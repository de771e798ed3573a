// unpack_bundle: good image and kernel bundles, every kind of unsafe or
// incomplete bundle refused with nothing left in the destination, sparse
// output, cancel and a full disk.

#include "services/bundle.hpp"

#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "services/error.hpp"
#include "test/unit/bundle_tar.hpp"
#include "test/unit/small_tmpfs.hpp"
#include "test/unit/temp_dir.hpp"

namespace banger {
namespace {

namespace fs = std::filesystem;
using namespace banger::test;

const std::string image_manifest =
    R"({"kind":"image","name":"deb","arch":"amd64","kernel":"generic","version":"12","distro":"debian"})";
const std::string kernel_manifest =
    R"({"kind":"kernel","name":"generic","arch":"amd64","version":"6.1.0"})";

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class BundleUnpack : public ::testing::Test {
protected:
  temp_dir tmp;
  std::string dest = tmp.path() + "/dest";

  std::string tar(const std::vector<tar_item>& items,
                  tar_filter f = tar_filter::zstd) {
    auto path = tmp.path() + "/b" + std::to_string(counter_++) + ".tar";
    write_tar(path, items, f);
    return path;
  }

  caf::expected<bundle_contents> unpack(const std::vector<tar_item>& items,
                                        std::string_view kind = "image") {
    return unpack_bundle(tar(items), dest, kind);
  }

  // Refused with a message containing `why`, and dest does not exist.
  void expect_refused(const std::vector<tar_item>& items, std::string_view kind,
                      const std::string& why) {
    auto r = unpack(items, kind);
    ASSERT_FALSE(r) << "accepted a bundle that should fail with: " << why;
    EXPECT_EQ(error_code(r.error()), ec::invalid_argument);
    EXPECT_NE(error_message(r.error()).find(why), std::string::npos)
        << error_message(r.error());
    EXPECT_FALSE(fs::exists(dest)) << "left " << dest << " behind";
  }

private:
  int counter_ = 0;
};

std::vector<tar_item> good_image() {
  return {reg("manifest.json", image_manifest),
          reg("rootfs.ext4", ext4_bytes()),
          reg("work-seed.ext4", ext4_bytes())};
}

std::vector<tar_item> good_kernel() {
  return {dir("./"),
          reg("./manifest.json", kernel_manifest),
          reg("./vmlinux", elf_bytes()),
          reg("./initrd.img", "initrd"),
          dir("./modules/"),
          dir("./modules/6.1.0/"),
          reg("./modules/6.1.0/virtio.ko", "ko"),
          symlink_item("./modules/6.1.0/alias.ko", "virtio.ko"),
          symlink_item("./modules/current", "6.1.0"),
          symlink_item("./modules/6.1.0/up", "../6.1.0/virtio.ko")};
}

TEST_F(BundleUnpack, ImageBundle) {
  auto r = unpack(good_image());
  ASSERT_TRUE(r) << error_message(r.error());
  EXPECT_EQ(r->dir, dest);
  EXPECT_EQ(r->rootfs, dest + "/rootfs.ext4");
  EXPECT_EQ(r->work_seed, dest + "/work-seed.ext4");
  EXPECT_EQ(r->manifest_path, dest + "/manifest.json");
  EXPECT_EQ(r->manifest.kind, "image");
  EXPECT_EQ(r->manifest.name, "deb");
  EXPECT_EQ(r->manifest.kernel, "generic");
  EXPECT_EQ(r->manifest.distro, "debian");
  EXPECT_EQ(read_all(r->rootfs), ext4_bytes());
  EXPECT_TRUE(r->kernel_image.empty());
}

TEST_F(BundleUnpack, KernelBundleGzipWithModules) {
  auto r = unpack_bundle(tar(good_kernel(), tar_filter::gzip), dest, "kernel");
  ASSERT_TRUE(r) << error_message(r.error());
  EXPECT_EQ(r->kernel_image, dest + "/vmlinux");
  EXPECT_TRUE(r->kernel_is_elf);
  EXPECT_EQ(r->initrd, dest + "/initrd.img");
  EXPECT_EQ(r->modules, dest + "/modules");
  EXPECT_EQ(r->manifest.version, "6.1.0");
  EXPECT_EQ(read_all(dest + "/modules/current/alias.ko"), "ko");
  EXPECT_TRUE(fs::is_symlink(dest + "/modules/current"));
}

TEST_F(BundleUnpack, UncompressedKernelWithBzImageOnly) {
  std::string bz(1024, 'z');
  bz.replace(0x202, 4, "HdrS");
  auto r = unpack_bundle(
      tar({reg("manifest.json", kernel_manifest), reg("vmlinuz", bz)},
          tar_filter::none),
      dest, "kernel");
  ASSERT_TRUE(r) << error_message(r.error());
  EXPECT_EQ(r->kernel_image, dest + "/vmlinuz");
  EXPECT_FALSE(r->kernel_is_elf);
  EXPECT_TRUE(r->initrd.empty());
  EXPECT_TRUE(r->modules.empty());
}

TEST_F(BundleUnpack, UnsafeEntriesAreRefused) {
  auto with = [](std::vector<tar_item> base, tar_item extra) {
    base.push_back(std::move(extra));
    return base;
  };
  expect_refused(with(good_image(), reg("../evil", "x")), "image",
                 "contains '..'");
  expect_refused(with(good_image(), reg("a/../../evil", "x")), "image",
                 "contains '..'");
  expect_refused(with(good_image(), reg("/etc/evil", "x")), "image",
                 "is an absolute path");
  expect_refused(
      with(good_kernel(), symlink_item("modules/6.1.0/esc", "../../x")),
      "kernel", "leaving modules/");
  expect_refused(
      with(good_kernel(), symlink_item("modules/abs", "/etc/passwd")), "kernel",
      "absolute path");
  expect_refused(
      with(good_kernel(), symlink_item("modules/zig", "6.1.0/../../x")),
      "kernel", "climbs after descending");
  expect_refused(
      with(good_image(), symlink_item("rootfs2.ext4", "rootfs.ext4")), "image",
      "is not part of an image bundle");
  expect_refused({reg("manifest.json", image_manifest),
                  symlink_item("rootfs.ext4", "/dev/sda")},
                 "image", "must be a regular file, not a symlink");
  tar_item dev{"modules/null", AE_IFCHR, {}, {}, {}, 0};
  expect_refused(with(good_kernel(), dev), "kernel", "is a device node");
  tar_item fifo{"modules/fifo", AE_IFIFO, {}, {}, {}, 0};
  expect_refused(with(good_kernel(), fifo), "kernel", "is a fifo");
  tar_item hard{"modules/h.ko", AE_IFREG, {}, {}, "modules/6.1.0/virtio.ko", 0};
  expect_refused(with(good_kernel(), hard), "kernel", "is a hardlink");
  expect_refused(with(good_image(), reg("README", "hi")), "image",
                 "is not part of an image bundle");
  expect_refused(with(good_image(), reg("rootfs.ext4", "again")), "image",
                 "appears twice");
  // A symlink inside modules/ is fine, writing through it is not.
  expect_refused(with(good_kernel(), reg("modules/current/evil.ko", "x")),
                 "kernel", "lies under something that is not a directory");
  // A kernel bundle has no rootfs, an image bundle no modules.
  expect_refused(with(good_kernel(), reg("rootfs.ext4", ext4_bytes())),
                 "kernel", "is not part of a kernel bundle");
  expect_refused(with(good_image(), dir("modules")), "image",
                 "is not part of an image bundle");
}

TEST_F(BundleUnpack, IncompleteOrWrongBundlesAreRefused) {
  expect_refused({reg("manifest.json", image_manifest)}, "image",
                 "rootfs.ext4 is missing");
  expect_refused({reg("rootfs.ext4", ext4_bytes())}, "image",
                 "manifest.json is missing");
  expect_refused(
      {reg("manifest.json", image_manifest), reg("rootfs.ext4", "not ext4")},
      "image", "not an ext2/3/4 filesystem");
  expect_refused(good_image(), "kernel", "is not part of a kernel bundle");
  expect_refused(
      {reg("manifest.json", image_manifest), reg("vmlinux", elf_bytes())},
      "kernel", "manifest.json says it holds image");
  expect_refused({reg("manifest.json", kernel_manifest), reg("vmlinux", "MZ")},
                 "kernel", "vmlinux is not an ELF");
  expect_refused({reg("manifest.json", kernel_manifest)}, "kernel",
                 "neither vmlinux nor vmlinuz");
  expect_refused(
      {reg("manifest.json", "{\"kind\":3}"), reg("rootfs.ext4", ext4_bytes())},
      "image", "\"kind\" must be a string");
}

TEST_F(BundleUnpack, NotATarIsRefused) {
  auto path = tmp.path() + "/junk.tar.zst";
  std::ofstream(path) << "this is not a tarball at all, not even close";
  auto r = unpack_bundle(path, dest, "image");
  ASSERT_FALSE(r);
  EXPECT_EQ(error_code(r.error()), ec::invalid_argument);
  EXPECT_FALSE(fs::exists(dest));
}

TEST_F(BundleUnpack, ExistingEmptyDestStaysEmptyOnFailure) {
  fs::create_directories(dest);
  auto items = good_image();
  items.push_back(reg("../evil", "x"));
  auto r = unpack(items);
  ASSERT_FALSE(r);
  EXPECT_TRUE(fs::is_directory(dest));
  EXPECT_TRUE(fs::is_empty(dest));
  EXPECT_FALSE(fs::exists(tmp.path() + "/evil"));
}

TEST_F(BundleUnpack, NonEmptyDestIsRefusedUntouched) {
  fs::create_directories(dest);
  std::ofstream(dest + "/mine") << "keep";
  auto r = unpack(good_image());
  ASSERT_FALSE(r);
  EXPECT_EQ(error_code(r.error()), ec::already_exists);
  EXPECT_EQ(read_all(dest + "/mine"), "keep");
}

TEST_F(BundleUnpack, BigRootfsStaysSparse) {
  constexpr std::int64_t size = 64 << 20;
  auto head = ext4_bytes(8192) + std::string(4096, 'd');
  // Stored with a sparse map, and stored plainly (all zeros in the tar).
  for (bool sparse_map : {true, false}) {
    fs::remove_all(dest);
    tar_item rootfs = reg("rootfs.ext4", head);
    std::string tail(5000, 't');
    if (sparse_map) {
      rootfs.sparse_size = size;
    } else {
      rootfs.data =
          head + std::string(size - head.size() - tail.size(), '\0') + tail;
    }
    auto r = unpack({reg("manifest.json", image_manifest), rootfs});
    ASSERT_TRUE(r) << error_message(r.error());
    struct stat st {};
    ASSERT_EQ(::stat(r->rootfs.c_str(), &st), 0);
    EXPECT_EQ(st.st_size, size);
    EXPECT_LT(st.st_blocks * 512, 1 << 20) << "sparse_map=" << sparse_map;
    auto got = read_all(r->rootfs);
    EXPECT_EQ(got.substr(0, head.size()), head);
    if (!sparse_map) {
      EXPECT_EQ(got.substr(got.size() - tail.size()), tail);
    }
    EXPECT_EQ(got[size / 2], '\0');
  }
}

TEST_F(BundleUnpack, CancelLeavesNothing) {
  std::atomic<bool> cancel{true};
  auto r = unpack_bundle(tar(good_image()), dest, "image", &cancel);
  ASSERT_FALSE(r);
  EXPECT_EQ(error_code(r.error()), ec::cancelled);
  EXPECT_FALSE(fs::exists(dest));
}

TEST_F(BundleUnpack, FullDiskIsNamedAndLeavesNothing) {
  std::string noise(2 << 20, '\0');
  for (std::size_t i = 0; i < noise.size(); ++i)
    noise[i] = static_cast<char>(i * 2654435761u >> 13);
  auto archive = tar({reg("manifest.json", image_manifest),
                      reg("rootfs.ext4", ext4_bytes() + noise)});
  auto mnt = tmp.path() + "/mnt";
  fs::create_directories(mnt);
  auto target = mnt + "/dest";
  auto r = in_small_tmpfs(mnt, "1m", [&] {
    auto got = unpack_bundle(archive, target, "image");
    if (got)
      return std::string{"unpack succeeded"};
    return error_message(got.error())
           + "|exists=" + std::to_string(fs::exists(target));
  });
  if (!r.skipped.empty())
    GTEST_SKIP() << r.skipped;
  // Refused before the write that would fill the disk.
  EXPECT_NE(r.text.find("beyond its free space"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("free some space there"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("|exists=0"), std::string::npos) << r.text;
}

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i)
    out += s;
  return out;
}

std::vector<tar_item> kernel_with(std::vector<tar_item> extra) {
  std::vector<tar_item> items{reg("manifest.json", kernel_manifest),
                              reg("vmlinux", elf_bytes()), dir("modules/")};
  for (auto& e : extra)
    items.push_back(std::move(e));
  return items;
}

// Refused naming `why`, with a message that does not repeat a huge name,
// and nothing left.
void expect_limited(const caf::expected<bundle_contents>& r, const std::string& dest,
                    const std::string& why) {
  ASSERT_FALSE(r) << "accepted a bundle that should fail with: " << why;
  EXPECT_EQ(error_code(r.error()), ec::invalid_argument);
  auto msg = error_message(r.error());
  EXPECT_NE(msg.find(why), std::string::npos) << msg;
  EXPECT_LT(msg.size(), 1500u);
  EXPECT_FALSE(fs::exists(dest));
}

TEST_F(BundleUnpack, A130KbPathIsRefusedAndNothingIsLeft) {
  auto r = unpack_bundle(
      tar(kernel_with({reg("modules/" + repeat("a/", 65000) + "x.ko", "ko")})), dest,
      "kernel");
  expect_limited(r, dest, "longer than the limit of 4096");
}

TEST_F(BundleUnpack, DeepTreesAreRefused) {
  auto r = unpack_bundle(tar(kernel_with({reg("modules/" + repeat("d/", 300) + "x.ko", "ko")})),
                         dest, "kernel");
  expect_limited(r, dest, "deeper than 256 directories");
}

TEST_F(BundleUnpack, EntryFloodsAreRefused) {
  std::vector<tar_item> many;
  for (int i = 0; i < 30; ++i)
    many.push_back(reg("modules/m" + std::to_string(i) + ".ko", "ko"));
  data_limits limits;
  limits.max_entries = 20;
  auto r = unpack_bundle(tar(kernel_with(many)), dest, "kernel", nullptr, limits);
  expect_limited(r, dest, "more than 20 entries");
}

TEST_F(BundleUnpack, GzipAndZstdBombsAreRefused) {
  for (auto f : {tar_filter::gzip, tar_filter::zstd}) {
    // 64 MiB of zeros after the ext4 magic: a few KB compressed.
    auto archive = tar({reg("manifest.json", image_manifest),
                        reg("rootfs.ext4", ext4_bytes(64 << 20))},
                       f);
    EXPECT_LT(fs::file_size(archive), 1u << 20);
    data_limits limits;
    limits.max_bytes = 16 << 20;
    auto r = unpack_bundle(archive, dest, "image", nullptr, limits);
    expect_limited(r, dest, "past 16777216 bytes");
  }
}

} // namespace
} // namespace banger

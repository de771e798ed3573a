// scripts/make-bundle.sh's output is what unpack_bundle and parse_catalog
// accept: GNU tar's sparse entries read back through libarchive, the catalog
// entry it writes matches the file.

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "services/bundle.hpp"
#include "services/catalog.hpp"
#include "services/error.hpp"
#include "services/process.hpp"
#include "services/sha256.hpp"
#include "test/unit/temp_dir.hpp"

namespace banger {
namespace {

namespace fs = std::filesystem;
using test::temp_dir;

const std::string script =
    std::string{BANGER_SOURCE_DIR} + "/scripts/make-bundle.sh";

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class MakeBundle : public ::testing::Test {
protected:
  temp_dir tmp;

  void SetUp() override {
    for (auto tool : {"tar", "zstd", "python3", "mke2fs"})
      if (auto r = run({"sh", "-c", std::string{"command -v "} + tool});
          !r || !r->ok())
        GTEST_SKIP() << tool << " is not installed (scripts/deps.sh)";
  }

  run_result pack(const std::vector<std::string>& args) {
    std::vector<std::string> argv{"bash", script};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run(argv);
    EXPECT_TRUE(r) << error_message(r.error());
    return r ? *r : run_result{};
  }
};

TEST_F(MakeBundle, SparseImageRoundTripsWithItsCatalogEntry) {
  auto img = tmp.path() + "/img";
  fs::create_directories(img);
  auto rootfs = img + "/rootfs.ext4";
  // 512 MiB, of which mke2fs writes a few MiB.
  ASSERT_TRUE(run({"truncate", "-s", "512M", rootfs})->ok());
  auto mk = run({"mke2fs", "-q", "-F", "-t", "ext4", rootfs});
  ASSERT_TRUE(mk && mk->ok()) << (mk ? mk->err : "");
  auto out = tmp.path() + "/deb.tar.zst";
  auto cat = tmp.path() + "/catalog.json";
  auto r = pack({"image", img, out, "--name", "deb", "--kernel", "generic",
                 "--arch", "amd64", "--catalog", cat, "--url", "deb.tar.zst"});
  ASSERT_TRUE(r.ok()) << r.out << r.err;
  auto bytes = read_all(out);
  EXPECT_LT(bytes.size(), 4u << 20) << "the bundle is not sparse";
  EXPECT_NE(r.out.find("sha256 " + sha256_hex(bytes)), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("size " + std::to_string(bytes.size())),
            std::string::npos);
  EXPECT_FALSE(fs::exists(img + "/manifest.json")) << "DIR was changed";

  auto entries = parse_catalog(read_all(cat), cat);
  ASSERT_TRUE(entries) << error_message(entries.error());
  auto e = find_entry(*entries, "image", "deb", "amd64");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->url, out);
  EXPECT_EQ(e->sha256, sha256_hex(bytes));
  EXPECT_EQ(e->size, bytes.size());
  EXPECT_EQ(e->kernel, "generic");

  bundle_fetch_options o;
  o.work_dir = tmp.path() + "/work";
  auto fetched = fetch_bundle(*e, o);
  ASSERT_TRUE(fetched) << error_message(fetched.error());
  auto dest = tmp.path() + "/unpacked";
  auto u = unpack_bundle(*fetched, dest, "image");
  ASSERT_TRUE(u) << error_message(u.error());
  EXPECT_EQ(u->manifest.name, "deb");
  EXPECT_EQ(u->manifest.kernel, "generic");
  EXPECT_EQ(u->manifest.arch, "amd64");
  struct stat st {};
  ASSERT_EQ(::stat(u->rootfs.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 512 << 20);
  EXPECT_LT(st.st_blocks * 512, 64 << 20) << "unpacked rootfs is not sparse";
  auto fsck = run({"e2fsck", "-fn", u->rootfs});
  ASSERT_TRUE(fsck);
  EXPECT_EQ(fsck->exit_code, 0) << fsck->out << fsck->err;

  // Packing again replaces the entry instead of adding one.
  r = pack({"image", img, out, "--name", "deb", "--arch", "amd64", "--catalog",
            cat, "--url", "deb2.tar.zst"});
  ASSERT_TRUE(r.ok()) << r.err;
  entries = parse_catalog(read_all(cat), cat);
  ASSERT_TRUE(entries) << error_message(entries.error());
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ(fs::path(entries->front().url).filename(), "deb2.tar.zst");
}

TEST_F(MakeBundle, KernelDirWithModulesUnpacks) {
  auto k = tmp.path() + "/k";
  fs::create_directories(k + "/modules/6.1.0/kernel");
  std::ofstream(k + "/vmlinux", std::ios::binary)
      << std::string("\177ELF\x02\x01\x01", 7) << std::string(5000, 'k');
  std::ofstream(k + "/initrd.img") << "initrd";
  std::ofstream(k + "/version") << "6.1.0\n";
  std::ofstream(k + "/modules/6.1.0/kernel/virtio.ko") << "ko";
  fs::create_symlink("kernel/virtio.ko", k + "/modules/6.1.0/alias.ko");
  fs::create_symlink("/usr/src/linux-headers-6.1.0",
                     k + "/modules/6.1.0/build");
  fs::create_hard_link(k + "/modules/6.1.0/kernel/virtio.ko",
                       k + "/modules/6.1.0/kernel/same.ko");
  auto out = tmp.path() + "/k.tar.zst";
  auto r = pack({"kernel", k, out, "--name", "generic", "--arch", "amd64"});
  ASSERT_TRUE(r.ok()) << r.out << r.err;
  EXPECT_NE(r.err.find("leaving out"), std::string::npos) << r.err;
  auto dest = tmp.path() + "/unpacked";
  auto u = unpack_bundle(out, dest, "kernel");
  ASSERT_TRUE(u) << error_message(u.error());
  EXPECT_EQ(u->kernel_image, dest + "/vmlinux");
  EXPECT_EQ(u->initrd, dest + "/initrd.img");
  EXPECT_EQ(u->manifest.version, "6.1.0");
  EXPECT_EQ(u->manifest.name, "generic");
  EXPECT_EQ(read_all(dest + "/modules/6.1.0/alias.ko"), "ko");
  EXPECT_EQ(read_all(dest + "/modules/6.1.0/kernel/same.ko"), "ko");
  EXPECT_FALSE(fs::is_symlink(dest + "/modules/6.1.0/build"));
}

TEST_F(MakeBundle, RefusesWhatIsNotABundle) {
  auto img = tmp.path() + "/img";
  fs::create_directories(img);
  std::ofstream(img + "/rootfs.ext4") << "not ext4";
  auto r = pack({"image", img, tmp.path() + "/x.tar.zst"});
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.err.find("is not an ext2/3/4 image"), std::string::npos) << r.err;
  r = pack({"kernel", img, tmp.path() + "/x.tar.zst"});
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.err.find("neither vmlinux nor vmlinuz"), std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(tmp.path() + "/x.tar.zst"));
  // No leftovers of the staging directory either.
  for (auto& e : fs::directory_iterator(tmp.path()))
    EXPECT_EQ(e.path().filename().string().rfind(".make-bundle", 0),
              std::string::npos)
        << e.path();
}

} // namespace
} // namespace banger

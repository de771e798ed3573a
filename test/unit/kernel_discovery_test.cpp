// Where `kernel import --from DIR` finds a kernel, initrd, modules and
// version, and what import_kernel copies.

#include "services/kernel_discovery.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "services/error.hpp"
#include "services/import.hpp"
#include "test/unit/temp_dir.hpp"

namespace banger {
namespace {

namespace fs = std::filesystem;
using test::temp_dir;

std::string elf() {
  return std::string("\177ELF\x02\x01\x01", 7) + std::string(64, 'e');
}

std::string bzimage() {
  std::string s(1024, 'z');
  s.replace(0x202, 4, "HdrS");
  return s;
}

class KernelDiscovery : public ::testing::Test {
protected:
  temp_dir tmp;
  std::string dir = tmp.path() + "/k";

  void put(const std::string& rel, const std::string& data) {
    auto p = fs::path(dir) / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << data;
  }
  void mkdir(const std::string& rel) {
    fs::create_directories(fs::path(dir) / rel);
  }
  std::string at(const std::string& rel) const { return dir + "/" + rel; }

  kernel_files find() {
    auto r = discover_kernel_files(dir);
    EXPECT_TRUE(r) << error_message(r.error());
    return r ? *r : kernel_files{};
  }
};

TEST_F(KernelDiscovery, BangerLayout) {
  put("vmlinux", elf());
  put("initrd.img", "i");
  put("version", "6.1.0-28-amd64\n");
  auto k = find();
  EXPECT_EQ(k.kernel, at("vmlinux"));
  EXPECT_TRUE(k.kernel_is_elf);
  EXPECT_EQ(k.initrd, at("initrd.img"));
  EXPECT_EQ(k.version, "6.1.0-28-amd64");
  EXPECT_TRUE(k.modules.empty());
}

TEST_F(KernelDiscovery, ElfIsPreferredOverBzImage) {
  put("vmlinuz", bzimage());
  put("boot/vmlinux-6.1.0", elf());
  auto k = find();
  EXPECT_EQ(k.kernel, at("boot/vmlinux-6.1.0"));
  EXPECT_TRUE(k.kernel_is_elf);
  EXPECT_EQ(k.version, "6.1.0");
}

TEST_F(KernelDiscovery, BzImageAloneIsFine) {
  put("vmlinuz", bzimage());
  put("vmlinux", "not an elf"); // skipped, not fatal
  auto k = find();
  EXPECT_EQ(k.kernel, at("vmlinuz"));
  EXPECT_FALSE(k.kernel_is_elf);
  EXPECT_TRUE(k.initrd.empty());
}

TEST_F(KernelDiscovery, DistroTreeTakesTheNewestVersionThroughout) {
  for (auto v : {"6.1.0-9-amd64", "6.1.0-10-amd64"}) {
    put(std::string("boot/vmlinuz-") + v, bzimage());
    put(std::string("boot/initrd.img-") + v, v);
    put(std::string("lib/modules/") + v + "/modules.dep", v);
  }
  auto k = find();
  EXPECT_EQ(k.kernel, at("boot/vmlinuz-6.1.0-10-amd64"));
  EXPECT_EQ(k.initrd, at("boot/initrd.img-6.1.0-10-amd64"));
  EXPECT_EQ(k.modules, at("lib/modules/6.1.0-10-amd64"));
  EXPECT_EQ(k.version, "6.1.0-10-amd64");
}

TEST_F(KernelDiscovery, InitrdAndModulesFollowTheKernelsVersion) {
  put("boot/vmlinuz-5.10.0", bzimage());
  put("boot/initrd.img-5.10.0", "old");
  put("boot/initrd.img-6.1.0", "new but not ours");
  mkdir("lib/modules/5.10.0");
  mkdir("lib/modules/6.1.0");
  auto k = find();
  EXPECT_EQ(k.initrd, at("boot/initrd.img-5.10.0"));
  EXPECT_EQ(k.modules, at("lib/modules/5.10.0"));
  EXPECT_EQ(k.version, "5.10.0");
}

TEST_F(KernelDiscovery, AlpineFlavourNamesKeepTheModulesRelease) {
  put("boot/vmlinuz-virt", bzimage());
  put("boot/initramfs-virt", "i");
  mkdir("lib/modules/6.6.14-0-virt/kernel");
  auto k = find();
  EXPECT_EQ(k.kernel, at("boot/vmlinuz-virt"));
  EXPECT_EQ(k.initrd, at("boot/initramfs-virt"));
  EXPECT_EQ(k.modules, at("lib/modules/6.6.14-0-virt"));
  EXPECT_EQ(k.version, "6.6.14-0-virt");
}

TEST_F(KernelDiscovery, ModulesDirectoryIsPreferred) {
  put("vmlinux", elf());
  mkdir("modules/6.1.0");
  mkdir("lib/modules/5.0.0");
  EXPECT_EQ(find().modules, at("modules"));
}

TEST_F(KernelDiscovery, MetadataNamesFiles) {
  put("out/bzImage-x", bzimage());
  put("out/ird", "i");
  mkdir("out/mods");
  put("vmlinux", elf()); // ignored: the metadata says otherwise
  put("metadata.json", R"({"kernel":"out/bzImage-x","initrd":"out/ird",)"
                       R"("modules":"out/mods","version":"6.12.8"})");
  auto k = find();
  EXPECT_EQ(k.kernel, at("out/bzImage-x"));
  EXPECT_EQ(k.initrd, at("out/ird"));
  EXPECT_EQ(k.modules, at("out/mods"));
  EXPECT_EQ(k.version, "6.12.8");
}

TEST_F(KernelDiscovery, BundleManifestWithoutPathsFallsBackToSearching) {
  put("manifest.json", R"({"kind":"kernel","name":"g","version":"6.12.8"})");
  put("vmlinux", elf());
  put("initrd.img", "i");
  mkdir("modules");
  auto k = find();
  EXPECT_EQ(k.kernel, at("vmlinux"));
  EXPECT_EQ(k.modules, at("modules"));
  EXPECT_EQ(k.version, "6.12.8");
}

TEST_F(KernelDiscovery, MetadataNamingAMissingFileIsAnError) {
  put("vmlinux", elf());
  put("metadata.json", R"({"initrd":"boot/nope.img"})");
  auto r = discover_kernel_files(dir);
  ASSERT_FALSE(r);
  EXPECT_EQ(error_code(r.error()), ec::not_found);
  auto msg = error_message(r.error());
  EXPECT_NE(msg.find(at("metadata.json")), std::string::npos) << msg;
  EXPECT_NE(msg.find("boot/nope.img"), std::string::npos) << msg;
}

TEST_F(KernelDiscovery, BrokenMetadataIsAnError) {
  put("vmlinux", elf());
  put("metadata.json", "{");
  auto r = discover_kernel_files(dir);
  ASSERT_FALSE(r);
  EXPECT_EQ(error_code(r.error()), ec::invalid_argument);
  put("metadata.json", R"({"kernel":5})");
  r = discover_kernel_files(dir);
  ASSERT_FALSE(r);
  EXPECT_NE(error_message(r.error()).find("\"kernel\" must be a string"),
            std::string::npos);
}

TEST_F(KernelDiscovery, NothingFoundSaysWhatWasLookedFor) {
  put("initrd.img", "i");
  put("vmlinux", "text, not a kernel");
  auto r = discover_kernel_files(dir);
  ASSERT_FALSE(r);
  EXPECT_EQ(error_code(r.error()), ec::not_found);
  auto msg = error_message(r.error());
  for (auto s : {"vmlinux", "boot/vmlinux-*", "vmlinuz", "boot/vmlinuz-*",
                 "metadata.json", dir.c_str()})
    EXPECT_NE(msg.find(s), std::string::npos) << s << " in: " << msg;
  auto none = discover_kernel_files(tmp.path() + "/missing");
  ASSERT_FALSE(none);
  EXPECT_EQ(error_code(none.error()), ec::invalid_argument);
}

TEST_F(KernelDiscovery, ImportCopiesKernelInitrdModulesAndVersion) {
  put("boot/vmlinuz-6.1.0-10-amd64", bzimage());
  put("boot/initrd.img-6.1.0-10-amd64", "initrd");
  put("lib/modules/6.1.0-10-amd64/kernel/virtio.ko", "ko");
  fs::create_symlink("kernel/virtio.ko",
                     at("lib/modules/6.1.0-10-amd64/alias.ko"));
  fs::create_symlink("/usr/src/linux-headers-6.1.0-10-amd64",
                     at("lib/modules/6.1.0-10-amd64/build"));
  auto kernels = tmp.path() + "/kernels";
  fs::create_directories(kernels);
  auto r = import_kernel(kernels, {"deb", dir});
  ASSERT_TRUE(r) << error_message(r.error());
  auto k = kernels + "/deb";
  EXPECT_EQ(r->vmlinux, k + "/vmlinuz");
  EXPECT_EQ(r->initrd, k + "/initrd.img");
  EXPECT_EQ(r->version, "6.1.0-10-amd64");
  std::ifstream v(k + "/version");
  std::string line;
  std::getline(v, line);
  EXPECT_EQ(line, "6.1.0-10-amd64");
  std::ifstream ko(k + "/modules/alias.ko");
  std::stringstream ss;
  ss << ko.rdbuf();
  EXPECT_EQ(ss.str(), "ko");
  EXPECT_TRUE(fs::is_symlink(k + "/modules/alias.ko"));
  // The dangling link out of the tree is not copied.
  EXPECT_FALSE(fs::is_symlink(k + "/modules/build"));
}

TEST_F(KernelDiscovery, ImportWithoutKernelLeavesNothing) {
  put("initrd.img", "i");
  auto kernels = tmp.path() + "/kernels";
  fs::create_directories(kernels);
  auto r = import_kernel(kernels, {"deb", dir});
  ASSERT_FALSE(r);
  EXPECT_TRUE(fs::is_empty(kernels));
}

} // namespace
} // namespace banger

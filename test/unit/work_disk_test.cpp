#include "services/work_disk.hpp"
#include "test/unit/temp_dir.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "services/error.hpp"
#include "services/process.hpp"

namespace fs = std::filesystem;

namespace {

using banger::test::temp_dir;
constexpr std::uint64_t mib = 1ull << 20;

std::string debugfs(const std::string& img, const std::string& cmd) {
  auto r = banger::run({"debugfs", "-R", cmd, img});
  EXPECT_TRUE(r) << cmd;
  return r ? r->out : "";
}

/// The filesystem's size as ext4 sees it (block count x block size).
std::uint64_t fs_bytes(const std::string& img) {
  auto stats = debugfs(img, "stats");
  std::uint64_t blocks = 0, block_size = 0;
  std::istringstream in(stats);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("Block count:", 0) == 0)
      blocks = std::stoull(line.substr(line.find(':') + 1));
    if (line.rfind("Block size:", 0) == 0)
      block_size = std::stoull(line.substr(line.find(':') + 1));
  }
  return blocks * block_size;
}

bool fsck_clean(const std::string& img) {
  auto r = banger::run({"e2fsck", "-fn", img});
  return r && r->exit_code == 0;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::uint64_t allocated(const std::string& path) {
  struct stat st {};
  ::stat(path.c_str(), &st);
  return static_cast<std::uint64_t>(st.st_blocks) * 512;
}

class WorkDisk : public ::testing::Test {
protected:
  /// An ext4 seed of `size` holding notes.txt, like an image's /root.
  std::string make_seed(std::uint64_t size = 64 * mib) {
    auto home = tmp_.path() + "/home";
    fs::create_directories(home + "/.ssh");
    std::ofstream(home + "/notes.txt") << "from the image\n";
    auto seed = tmp_.path() + "/work-seed.ext4";
    auto r = banger::run({"mke2fs", "-q", "-t", "ext4", "-T", "default", "-d", home, "-F",
                          seed, std::to_string(size >> 10) + "k"});
    EXPECT_TRUE(r && r->ok()) << (r ? r->err : "");
    return seed;
  }
  std::string out() const { return tmp_.path() + "/vm/work.ext4"; }
  void SetUp() override { fs::create_directories(tmp_.path() + "/vm"); }
  void expect_nothing_left() {
    EXPECT_FALSE(fs::exists(out()));
    EXPECT_FALSE(fs::exists(out() + ".tmp"));
    EXPECT_FALSE(fs::exists(out() + ".tmp.d"));
  }

  temp_dir tmp_;
};

TEST_F(WorkDisk, ClonedFromTheSeedAndGrownToTheDiskSize) {
  auto seed = make_seed();
  auto before = read_all(seed);
  auto r = banger::create_work_disk(seed, out(), 2048 * mib);
  ASSERT_TRUE(r) << banger::error_message(r.error());
  EXPECT_EQ(fs::file_size(out()), 2048 * mib);
  EXPECT_EQ(fs_bytes(out()), 2048 * mib);
  EXPECT_TRUE(fsck_clean(out()));
  EXPECT_EQ(debugfs(out(), "cat /notes.txt"), "from the image\n");
  // Sparse: a 2 GiB disk costs the host a few MiB, not 2 GiB.
  EXPECT_LT(allocated(out()), 64 * mib);
  EXPECT_EQ(read_all(seed), before); // the seed is shared: never written
  EXPECT_FALSE(fs::exists(out() + ".tmp"));
}

TEST_F(WorkDisk, WithoutASeedItIsEmptyAndAsksTheGuestToCopyRoot) {
  auto r = banger::create_work_disk("", out(), 256 * mib);
  ASSERT_TRUE(r) << banger::error_message(r.error());
  EXPECT_EQ(fs_bytes(out()), 256 * mib);
  EXPECT_TRUE(fsck_clean(out()));
  auto ls = debugfs(out(), "ls -p /");
  EXPECT_NE(ls.find(banger::work_disk_unseeded_marker), std::string::npos) << ls;
  auto root = debugfs(out(), "stat /");
  EXPECT_NE(root.find("User:     0   Group:     0"), std::string::npos) << root;
  EXPECT_FALSE(fs::exists(out() + ".tmp.d"));
}

TEST_F(WorkDisk, SmallerThanTheSeedIsRefusedWithTheSizeThatFits) {
  auto seed = make_seed(100 * mib);
  auto r = banger::create_work_disk(seed, out(), 80 * mib);
  ASSERT_FALSE(r);
  EXPECT_EQ(banger::error_code(r.error()), banger::ec::invalid_argument);
  auto msg = banger::error_message(r.error());
  EXPECT_NE(msg.find("--disk-size 100M or more"), std::string::npos) << msg;
  expect_nothing_left();
}

TEST_F(WorkDisk, SizesOutOfRangeAreRefused) {
  for (auto size : {std::uint64_t{0}, 10 * mib, banger::max_work_disk_bytes + 1}) {
    auto r = banger::create_work_disk("", out(), size);
    ASSERT_FALSE(r) << size;
    EXPECT_EQ(banger::error_code(r.error()), banger::ec::invalid_argument);
    EXPECT_NE(banger::error_message(r.error()).find("out of range"), std::string::npos);
    EXPECT_FALSE(banger::check_disk_size(size).empty());
  }
  EXPECT_TRUE(banger::check_disk_size(8ull << 30).empty());
  expect_nothing_left();
}

TEST_F(WorkDisk, AnExistingDiskIsNeverReplaced) {
  std::ofstream(out()) << "the user's files";
  auto r = banger::create_work_disk("", out(), 128 * mib);
  ASSERT_FALSE(r);
  EXPECT_EQ(banger::error_code(r.error()), banger::ec::already_exists);
  EXPECT_EQ(read_all(out()), "the user's files");
}

TEST_F(WorkDisk, AMissingSeedIsAClearErrorAndLeavesNothing) {
  auto r = banger::create_work_disk(tmp_.path() + "/gone.ext4", out(), 128 * mib);
  ASSERT_FALSE(r);
  EXPECT_EQ(banger::error_code(r.error()), banger::ec::not_found);
  EXPECT_NE(banger::error_message(r.error()).find("gone.ext4"), std::string::npos);
  expect_nothing_left();
}

TEST_F(WorkDisk, GrowsButNeverShrinks) {
  ASSERT_TRUE(banger::create_work_disk(make_seed(), out(), 128 * mib));
  auto r = banger::grow_work_disk(out(), 512 * mib);
  ASSERT_TRUE(r) << banger::error_message(r.error());
  EXPECT_EQ(fs_bytes(out()), 512 * mib);
  EXPECT_EQ(debugfs(out(), "cat /notes.txt"), "from the image\n");
  auto shrink = banger::grow_work_disk(out(), 256 * mib);
  ASSERT_FALSE(shrink);
  EXPECT_EQ(banger::error_code(shrink.error()), banger::ec::invalid_argument);
  EXPECT_EQ(fs_bytes(out()), 512 * mib);
}

TEST_F(WorkDisk, ASeedFromAWorkDiskIsShrunkToItsContents) {
  ASSERT_TRUE(banger::create_work_disk(make_seed(), out(), 4096 * mib));
  auto seed = tmp_.path() + "/new-seed.ext4";
  auto r = banger::seed_from_work_disk(out(), seed);
  ASSERT_TRUE(r) << banger::error_message(r.error());
  EXPECT_TRUE(fsck_clean(seed));
  EXPECT_LT(fs::file_size(seed), 512 * mib);
  EXPECT_GE(fs::file_size(seed), banger::min_work_disk_bytes);
  EXPECT_EQ(debugfs(seed, "cat /notes.txt"), "from the image\n");
  EXPECT_EQ(fs_bytes(out()), 4096 * mib); // the VM's disk is untouched
  EXPECT_FALSE(fs::exists(seed + ".tmp"));
}

} // namespace

// remove_tree and the staging helpers on trees an archive could make: a
// 130 KB "a/a/a/..." chain (65,000 levels, far past PATH_MAX), which
// std::filesystem::remove_all cannot remove (one descriptor per level:
// EMFILE) and a recursive walk overflows on; symlinks that must not be
// followed.

#include "services/staging.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include <gtest/gtest.h>

#include "services/error.hpp"
#include "services/unique_fd.hpp"
#include "test/unit/small_tmpfs.hpp"
#include "test/unit/temp_dir.hpp"

namespace banger {
namespace {

namespace fs = std::filesystem;
using banger::test::temp_dir;

// <top>/a/a/.../a (`levels` deep) with a file at the bottom, made relative
// to directory descriptors since the path is longer than PATH_MAX.
void make_chain(const std::string& top, int levels) {
  ASSERT_EQ(::mkdir(top.c_str(), 0700), 0);
  unique_fd cur{::open(top.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  ASSERT_TRUE(cur.valid());
  for (int i = 0; i < levels; ++i) {
    ASSERT_EQ(::mkdirat(cur.get(), "a", 0700), 0) << "level " << i;
    unique_fd next{
        ::openat(cur.get(), "a", O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    ASSERT_TRUE(next.valid()) << "level " << i;
    cur = std::move(next);
  }
  unique_fd f{
      ::openat(cur.get(), "bottom", O_WRONLY | O_CREAT | O_CLOEXEC, 0600)};
  ASSERT_TRUE(f.valid());
}

constexpr int deep = 65000; // "a/" x 65,000: a 130 KB path

// Runs `fn` (which returns "" or what went wrong) on a tmpfs when we may
// mount one: 65,000 directories on this disk take minutes to sync, in RAM a
// second. Elsewhere on the disk.
std::string on_fast_fs(const std::string& dir,
                       const std::function<std::string()>& fn) {
  auto r = banger::test::in_small_tmpfs(dir, "512m", fn);
  return r.skipped.empty() ? r.text : fn();
}

std::string chain_or_error(const std::string& top, int levels) {
  make_chain(top, levels);
  return ::testing::Test::HasFailure() ? "cannot make " + top + "\n" : "";
}

TEST(Staging, RemoveTreeRemovesA130KbDeepChain) {
  temp_dir tmp;
  auto top = tmp.path() + "/deep";
  auto problems = on_fast_fs(tmp.path(), [&] {
    auto out = chain_or_error(top, deep);
    if (auto r = remove_tree(top); !r)
      out += error_message(r.error()) + "\n";
    if (fs::exists(top))
      out += top + " is still there\n";
    return out;
  });
  EXPECT_EQ(problems, "");
}

TEST(Staging, DiscardAndSweepRemoveDeepStagingDirs) {
  temp_dir tmp;
  auto problems = on_fast_fs(tmp.path(), [&] {
    auto out = chain_or_error(tmp.path() + "/.pull-1", deep);
    out += chain_or_error(tmp.path() + "/.pull-2", 3);
    std::ofstream(tmp.path() + "/keep") << "x";
    if (int n = sweep_staging_dirs(tmp.path()); n != 2)
      out += "swept " + std::to_string(n) + "\n";
    for (auto* gone : {"/.pull-1", "/.pull-2"})
      if (fs::exists(tmp.path() + gone))
        out += std::string{gone} + " is still there\n";
    if (!fs::exists(tmp.path() + "/keep"))
      out += "keep was removed\n";
    out += chain_or_error(tmp.path() + "/.build-3", deep);
    discard_dir(tmp.path() + "/.build-3");
    if (fs::exists(tmp.path() + "/.build-3"))
      out += ".build-3 is still there\n";
    return out;
  });
  EXPECT_EQ(problems, "");
}

TEST(Staging, RemoveTreeNeverFollowsSymlinks) {
  temp_dir tmp;
  auto outside = tmp.path() + "/outside";
  fs::create_directories(outside);
  std::ofstream(outside + "/precious") << "keep me";
  auto top = tmp.path() + "/tree";
  fs::create_directories(top + "/sub");
  fs::create_directory_symlink(outside, top + "/sub/link");
  fs::create_directory_symlink(outside, tmp.path() + "/toplink");
  ASSERT_TRUE(remove_tree(top));
  EXPECT_FALSE(fs::exists(top));
  // A symlink given as the top is removed as a link.
  ASSERT_TRUE(remove_tree(tmp.path() + "/toplink"));
  EXPECT_FALSE(fs::is_symlink(tmp.path() + "/toplink"));
  EXPECT_TRUE(fs::exists(outside + "/precious"));
}

TEST(Staging, RemoveTreeOfNothingOrAFileIsFine) {
  temp_dir tmp;
  EXPECT_TRUE(remove_tree(tmp.path() + "/missing"));
  std::ofstream(tmp.path() + "/f") << "x";
  EXPECT_TRUE(remove_tree(tmp.path() + "/f"));
  EXPECT_FALSE(fs::exists(tmp.path() + "/f"));
}

TEST(Staging, RemoveTreeWideAndDeepMix) {
  temp_dir tmp;
  auto top = tmp.path() + "/mix";
  make_chain(top, 200); // past the 64 open levels: parents found again by ".."
  std::string p = top;
  for (int i = 0; i < 100; ++i)
    p += "/a";
  for (int i = 0; i < 50; ++i) {
    fs::create_directories(p + "/w" + std::to_string(i) + "/x");
    std::ofstream(p + "/w" + std::to_string(i) + "/x/f") << i;
  }
  ASSERT_TRUE(remove_tree(top));
  EXPECT_FALSE(fs::exists(top));
}

TEST(Staging, RemoveTreeReportsWhatItCannotRemove) {
  if (::geteuid() == 0)
    GTEST_SKIP() << "root removes read-only directories' entries anyway";
  temp_dir tmp;
  auto top = tmp.path() + "/ro";
  fs::create_directories(top + "/locked");
  std::ofstream(top + "/locked/f") << "x";
  ::chmod((top + "/locked").c_str(), 0500);
  auto r = remove_tree(top);
  ::chmod((top + "/locked").c_str(), 0700);
  ASSERT_FALSE(r);
  EXPECT_EQ(error_code(r.error()), ec::unavailable);
  EXPECT_NE(error_message(r.error()).find("locked/f"), std::string::npos)
      << error_message(r.error());
}

} // namespace
} // namespace banger

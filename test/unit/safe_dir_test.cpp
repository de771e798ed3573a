// Root's directory handling (services/safe_dir.hpp): what root opens for
// someone else is never reached through a path that someone can change.
// Needs root to own and chown things; skipped otherwise.

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "services/error.hpp"
#include "services/safe_dir.hpp"
#include "test/unit/temp_dir.hpp"

namespace banger {
namespace {

namespace fs = std::filesystem;

constexpr uid_t someone = 64999; // no account needed to own files

struct stat stat_of(const std::string& path) {
  struct stat st {};
  ::lstat(path.c_str(), &st);
  return st;
}

class safe_dir : public ::testing::Test {
protected:
  void SetUp() override {
    if (::geteuid() != 0)
      GTEST_SKIP() << "needs root: owns and chowns files";
    ::chmod(dir_.path().c_str(), 0755);
  }
  std::string at(const std::string& name) const {
    return dir_.path() + "/" + name;
  }
  test::temp_dir dir_{"banger-safe-dir"};
};

TEST_F(safe_dir, a_symlinked_top_directory_is_refused_and_its_target_kept) {
  fs::create_directory(at("etc"));
  std::ofstream(at("etc/passwd")) << "root\n";
  fs::create_directory(at("home"));
  ASSERT_EQ(::chown(at("home").c_str(), someone, someone), 0);
  fs::create_directory_symlink(at("etc"), at("home/banger"));
  auto r = hand_over_dir(at("home/banger"), someone, someone);
  ASSERT_FALSE(r);
  EXPECT_NE(error_message(r.error()).find(at("home/banger") + " is a symlink"),
            std::string::npos)
      << error_message(r.error());
  EXPECT_EQ(stat_of(at("etc")).st_uid, 0u);
  EXPECT_EQ(stat_of(at("etc/passwd")).st_uid, 0u);
}

TEST_F(safe_dir, a_symlink_in_a_users_directory_above_the_top_is_refused) {
  fs::create_directories(at("var/banger"));
  fs::create_directory(at("home"));
  ASSERT_EQ(::chown(at("home").c_str(), someone, someone), 0);
  fs::create_directory_symlink(at("var"), at("home/state"));
  EXPECT_FALSE(hand_over_dir(at("home/state/banger"), someone, someone));
  EXPECT_EQ(stat_of(at("var/banger")).st_uid, 0u);
}

TEST_F(safe_dir, only_the_top_directory_changes_hands) {
  fs::create_directories(at("state/banger/vms"));
  ASSERT_TRUE(hand_over_dir(at("state/banger"), someone, someone));
  EXPECT_EQ(stat_of(at("state/banger")).st_uid, someone);
  EXPECT_EQ(stat_of(at("state/banger/vms")).st_uid, 0u);
  // Missing: nothing to do (the owner creates it); another user's: refused.
  EXPECT_TRUE(hand_over_dir(at("missing/banger"), someone, someone));
  EXPECT_FALSE(fs::exists(at("missing")));
  EXPECT_FALSE(hand_over_dir(at("state/banger"), someone + 1, someone + 1));
}

TEST_F(safe_dir, roots_run_dir_is_created_and_must_stay_roots) {
  auto made = open_root_dir(at("run/banger/helper-1"));
  ASSERT_TRUE(made) << error_message(made.error());
  EXPECT_EQ(stat_of(at("run/banger/helper-1")).st_mode & 07777, 0755u);
  ::chmod(at("run/banger").c_str(), 0775);
  auto r = open_root_dir(at("run/banger/helper-1"));
  ASSERT_FALSE(r);
  EXPECT_NE(error_message(r.error()).find(at("run/banger")
                                          + " belongs to uid 0 "
                                            "with mode 0775"),
            std::string::npos)
      << error_message(r.error());
  ::chmod(at("run/banger").c_str(), 0755);
  ::chown(at("run/banger/helper-1").c_str(), someone, someone);
  EXPECT_FALSE(open_root_dir(at("run/banger/helper-1")));
}

TEST_F(safe_dir, root_runs_only_programs_root_alone_controls) {
  auto exe = at("banger-helper");
  std::ofstream(exe) << "#!/bin/sh\n";
  ::chmod(exe.c_str(), 0755);
  EXPECT_TRUE(check_root_executable(exe));
  ::chown(exe.c_str(), someone, someone);
  auto r = check_root_executable(exe);
  ASSERT_FALSE(r);
  EXPECT_NE(error_message(r.error()).find(exe + " is owned by uid 64999"),
            std::string::npos)
      << error_message(r.error());
  ::chown(exe.c_str(), 0, 0);
  ::chmod(exe.c_str(), 0757);
  EXPECT_FALSE(check_root_executable(exe));
  ::chmod(exe.c_str(), 0755);
  // A directory someone else may write lets them swap the file.
  ::chmod(dir_.path().c_str(), 0777);
  EXPECT_FALSE(check_root_executable(exe));
  ::chmod(dir_.path().c_str(), 0755);
  fs::create_symlink(exe, at("link"));
  EXPECT_FALSE(check_root_executable(at("link")));
}

} // namespace
} // namespace banger

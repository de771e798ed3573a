// `bangerd --check-migrations`: what it reports for missing, old, current and
// broken state databases, and that it never changes them: every file in the
// state dir (state.db, and -wal/-shm when a daemon runs or crashed) keeps
// its bytes and its mtime, and no file appears or disappears.

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "services/process.hpp"
#include "services/store.hpp"
#include "test/unit/raw_sql.hpp"
#include "test/unit/temp_dir.hpp"

namespace banger {
namespace {

namespace fs = std::filesystem;

struct file_snapshot {
  std::string bytes;
  std::int64_t mtime_ns = 0;
  bool operator==(const file_snapshot&) const = default;
};

std::map<std::string, file_snapshot> snapshot(const fs::path& dir) {
  std::map<std::string, file_snapshot> files;
  for (auto& e : fs::directory_iterator(dir)) {
    struct stat st {};
    ::stat(e.path().c_str(), &st);
    std::ifstream in(e.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    files[e.path().filename().string()] = {
        ss.str(), st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec};
  }
  return files;
}

std::string names(const std::map<std::string, file_snapshot>& files) {
  std::string s;
  for (auto& [n, _] : files)
    s += n + " ";
  return s;
}

class check_migrations : public ::testing::Test {
protected:
  void SetUp() override {
    state_ = fs::path(dir_.path()) / "state" / "banger";
    fs::create_directories(state_);
    db_ = state_ / "state.db";
  }

  /// bangerd --check-migrations with XDG dirs inside the temp dir.
  run_result check(std::vector<std::string> wrapper = {}) {
    run_options o;
    o.timeout = std::chrono::seconds(30);
    o.env_extra = {"XDG_STATE_HOME=" + dir_.path() + "/state",
                   "XDG_CONFIG_HOME=" + dir_.path() + "/config",
                   "XDG_RUNTIME_DIR=" + dir_.path() + "/run"};
    wrapper.push_back(BANGERD_BIN);
    wrapper.push_back("--check-migrations");
    auto r = run(wrapper, o);
    EXPECT_TRUE(r) << "cannot run bangerd";
    return r ? *r : run_result{};
  }

  void raw_sql(const char* sql) { test::raw_sql(db_.string(), sql); }

  /// Runs check() and expects the state dir to be exactly as before.
  run_result check_untouched(std::vector<std::string> wrapper = {}) {
    auto before = snapshot(state_);
    // Coarse mtime clocks: make a write now show up as a different mtime.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto r = check(std::move(wrapper));
    auto after = snapshot(state_);
    EXPECT_EQ(names(before), names(after)) << "files appeared or went";
    for (auto& [name, snap] : before) {
      auto it = after.find(name);
      if (it == after.end())
        continue;
      EXPECT_EQ(snap.bytes == it->second.bytes, true) << name << " changed";
      EXPECT_EQ(snap.mtime_ns, it->second.mtime_ns) << name << " was written";
    }
    return r;
  }

  test::temp_dir dir_{"banger-check-migrations"};
  fs::path state_;
  fs::path db_;
};

TEST_F(check_migrations,
       a_missing_file_lists_every_migration_and_stays_missing) {
  auto r = check();
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("state database: " + db_.string()), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("does not exist"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  1  create the tables"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("nothing was changed"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(db_));
  EXPECT_TRUE(fs::is_empty(state_));
}

TEST_F(check_migrations, an_up_to_date_file_is_reported_and_untouched) {
  { ASSERT_TRUE(store::open(db_.string())); }
  auto r = check_untouched();
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  auto latest = std::to_string(store::latest_schema_version());
  EXPECT_NE(r.out.find("schema version: " + latest
                       + " (this bangerd knows up to " + latest),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("up to date"), std::string::npos) << r.out;
}

TEST_F(check_migrations, an_old_file_lists_what_is_pending_and_is_untouched) {
  { ASSERT_TRUE(store::open(db_.string())); }
  auto older = store::latest_schema_version() - 1;
  raw_sql(("PRAGMA user_version = " + std::to_string(older)).c_str());
  auto r = check_untouched();
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("schema version: " + std::to_string(older)),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("pending migrations: 1 "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  " + std::to_string(older + 1) + "  "),
            std::string::npos)
      << r.out;
}

// A daemon holding the database open: -wal and -shm exist and carry recent
// commits that are not in state.db yet.
TEST_F(check_migrations, a_live_database_with_its_wal_is_untouched) {
  auto s = store::open(db_.string());
  ASSERT_TRUE(s);
  kernel_info k{
      "k1", "/k/vmlinux", "/k/initrd", "6.1", "2024-01-01T00:00:00Z", "", ""};
  ASSERT_TRUE((*s)->insert_kernel(k));
  ASSERT_TRUE(fs::exists(state_ / "state.db-wal"));
  auto r = check_untouched();
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("up to date"), std::string::npos) << r.out;
}

// A daemon killed with -9: the -wal holds commits, nobody has the file open.
TEST_F(check_migrations, a_crashed_daemons_wal_is_left_for_the_daemon) {
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto s = store::open(db_.string());
    kernel_info k{
        "k1", "/k/vmlinux", "/k/initrd", "6.1", "2024-01-01T00:00:00Z", "", ""};
    ::_exit(s && (*s)->insert_kernel(k) ? 0 : 1); // no close, no checkpoint
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ASSERT_TRUE(fs::exists(state_ / "state.db-wal"));
  auto r = check_untouched();
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST_F(check_migrations, a_damaged_file_fails_clearly_and_is_untouched) {
  std::string bytes("SQLite format 3\0", 16);
  bytes += std::string(8192, '\x5a');
  std::ofstream(db_, std::ios::binary) << bytes;
  auto r = check_untouched();
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.err.find(db_.string()), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("move the file aside"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST_F(check_migrations, a_foreign_or_newer_file_fails_and_is_untouched) {
  std::ofstream(db_, std::ios::binary) << "this is not a database at all\n";
  auto r = check_untouched();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not a SQLite database"), std::string::npos) << r.err;
  fs::remove(db_);
  { ASSERT_TRUE(store::open(db_.string())); }
  raw_sql("PRAGMA user_version = 99");
  r = check_untouched();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("upgrade banger"), std::string::npos) << r.err;
}

TEST_F(check_migrations, an_unreadable_file_fails_clearly) {
  { ASSERT_TRUE(store::open(db_.string())); }
  fs::permissions(db_, fs::perms::owner_read | fs::perms::owner_write);
  std::vector<std::string> as_other;
  if (::geteuid() == 0) {
    // Root reads any file: check as nobody, who may enter the dirs only.
    if (::access("/usr/bin/setpriv", X_OK) != 0)
      GTEST_SKIP() << "needs setpriv (util-linux) to drop root";
    for (auto& d : {fs::path(dir_.path()), state_.parent_path(), state_})
      fs::permissions(d, fs::perms::owner_all | fs::perms::group_exec
                             | fs::perms::others_exec);
    as_other = {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534",
                "--clear-groups", "--"};
  }
  auto r = check_untouched(as_other);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find(db_.string()), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("permissions"), std::string::npos) << r.err;
}

} // namespace
} // namespace banger

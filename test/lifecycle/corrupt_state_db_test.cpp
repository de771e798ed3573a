// bangerd (the real binary, against temp XDG dirs, --no-network) refuses to
// start on a state.db that is not a SQLite database or is damaged: it exits
// non-zero, says what is wrong with which file and what to do (move it aside
// or restore it from a backup), and never writes to it - the bytes stay as
// they were and no -wal/-shm/-journal file appears beside it.

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "services/process.hpp"
#include "services/store.hpp"
#include "test/unit/temp_dir.hpp"

namespace banger {
namespace {

namespace fs = std::filesystem;

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class corrupt_state_db : public ::testing::Test {
protected:
  void SetUp() override {
    state_ = fs::path(dir_.path()) / "state" / "banger";
    fs::create_directories(state_);
    db_ = state_ / "state.db";
  }

  /// bangerd as a daemon would start, with XDG dirs inside the temp dir.
  run_result start_daemon() {
    run_options o;
    o.timeout = std::chrono::seconds(30);
    o.env_extra = {"XDG_STATE_HOME=" + dir_.path() + "/state",
                   "XDG_CONFIG_HOME=" + dir_.path() + "/config",
                   "XDG_RUNTIME_DIR=" + dir_.path() + "/run"};
    auto r = run({BANGERD_BIN, "--no-network"}, o);
    EXPECT_TRUE(r) << "cannot run bangerd";
    return r ? *r : run_result{};
  }

  /// Starts bangerd on the current state.db and checks the refusal.
  void expect_refused(const std::string& what) {
    auto before = read_all(db_);
    auto r = start_daemon();
    EXPECT_FALSE(r.timed_out) << "bangerd ran on a broken state.db: " << r.err;
    EXPECT_NE(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find(db_.string()), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(what), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("move the file aside"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("restore it from a backup"), std::string::npos)
        << r.err;
    EXPECT_TRUE(read_all(db_) == before) << "state.db was modified";
    for (auto suffix : {"-wal", "-shm", "-journal"})
      EXPECT_FALSE(fs::exists(db_.string() + suffix)) << suffix << " appeared";
  }

  test::temp_dir dir_{"banger-corrupt-db"};
  fs::path state_;
  fs::path db_;
};

TEST_F(corrupt_state_db, a_file_that_is_not_sqlite_is_refused_and_kept) {
  {
    std::ofstream out(db_, std::ios::binary);
    for (int i = 0; i < 3000; ++i)
      out << "not a database, line " << i << "\n";
  }
  expect_refused("is not a SQLite database");
}

TEST_F(corrupt_state_db, a_damaged_database_is_refused_and_kept) {
  {
    auto s = store::open(db_.string());
    ASSERT_TRUE(s) << "cannot make a state.db";
  }
  // More pages, so that one can be damaged past the header.
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(db_.c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    auto rc =
        sqlite3_exec(db,
                     "PRAGMA journal_mode=DELETE;"
                     "CREATE TABLE filler(x TEXT);"
                     "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 "
                     "FROM n WHERE i < 2000) INSERT INTO filler SELECT "
                     "hex(randomblob(64)) FROM n;",
                     nullptr, nullptr, &err);
    std::string msg = err ? err : "";
    sqlite3_free(err);
    sqlite3_close(db);
    ASSERT_EQ(rc, SQLITE_OK) << msg;
  }
  ASSERT_FALSE(fs::exists(db_.string() + "-wal"));
  auto size = fs::file_size(db_);
  ASSERT_GT(size, 16u * 4096u);
  {
    std::fstream f(db_, std::ios::binary | std::ios::in | std::ios::out);
    // Garbage over pages 2-9 (the schema's and the tables' b-tree pages).
    f.seekp(4096);
    std::string junk(8 * 4096, '\xa5');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  expect_refused("damaged");
}

TEST_F(corrupt_state_db, a_truncated_database_is_refused_and_kept) {
  {
    auto s = store::open(db_.string());
    ASSERT_TRUE(s) << "cannot make a state.db";
  }
  ASSERT_FALSE(fs::exists(db_.string() + "-wal"));
  fs::resize_file(db_, 100); // the header survives, the pages do not
  expect_refused("state database");
}

} // namespace
} // namespace banger

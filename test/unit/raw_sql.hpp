#pragma once
// Runs SQL on a database file with SQLite's own API, to build databases
// banger did not write (old schemas, foreign tables) for the store's tests.

#include <string>

#include <gtest/gtest.h>
#include <sqlite3.h>

namespace banger::test {

inline void raw_sql(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  auto rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
  std::string msg = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << msg;
}

} // namespace banger::test

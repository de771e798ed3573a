// The text of `bangerd --check-migrations` (test/lifecycle runs bangerd).

#include "services/store_report.hpp"

#include <gtest/gtest.h>

namespace banger {
namespace {

TEST(store_report, lists_pending_migrations_by_number) {
  store::migration_plan plan;
  plan.exists = true;
  plan.current_version = 1;
  plan.latest_version = 3;
  plan.pending = {{2, "add the network columns"}, {3, "record sources"}};
  EXPECT_EQ(format_migration_plan("/s/state.db", plan),
            "state database: /s/state.db\n"
            "schema version: 1 (this bangerd knows up to 3)\n"
            "pending migrations: 2 (bangerd applies them at its next start, "
            "one transaction each)\n"
            "  2  add the network columns\n"
            "  3  record sources\n"
            "nothing was changed\n");
}

TEST(store_report, up_to_date_and_missing_files) {
  store::migration_plan plan;
  plan.exists = true;
  plan.current_version = 3;
  plan.latest_version = 3;
  auto up = format_migration_plan("/s/state.db", plan);
  EXPECT_NE(up.find("schema version: 3 (this bangerd knows up to 3)\n"),
            std::string::npos)
      << up;
  EXPECT_NE(up.find("pending migrations: none, the file is up to date\n"),
            std::string::npos)
      << up;
  plan.exists = false;
  plan.current_version = 0;
  plan.pending = {{1, "create"}, {2, "b"}, {3, "c"}};
  auto missing = format_migration_plan("/s/state.db", plan);
  EXPECT_NE(
      missing.find("the file does not exist; bangerd creates it at version 3"),
      std::string::npos)
      << missing;
  EXPECT_NE(missing.find("  1  create\n"), std::string::npos) << missing;
}

} // namespace
} // namespace banger

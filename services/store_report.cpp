#include "services/store_report.hpp"

#include <fmt/format.h>

namespace banger {

std::string format_migration_plan(const std::string& path,
                                  const store::migration_plan& plan) {
  std::string out = fmt::format("state database: {}\n", path);
  if (!plan.exists)
    out += fmt::format("schema version: none (the file does not exist; "
                       "bangerd creates it at version {})\n",
                       plan.latest_version);
  else
    out += fmt::format("schema version: {} (this bangerd knows up to {})\n",
                       plan.current_version, plan.latest_version);
  if (plan.pending.empty()) {
    out += "pending migrations: none, the file is up to date\n";
  } else {
    out += fmt::format("pending migrations: {} (bangerd applies them at its "
                       "next start, one transaction each)\n",
                       plan.pending.size());
    for (const auto& m : plan.pending)
      out += fmt::format("  {}  {}\n", m.version, m.summary);
  }
  out += "nothing was changed\n";
  return out;
}

} // namespace banger

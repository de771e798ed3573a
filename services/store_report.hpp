#pragma once
// The text of `bangerd --check-migrations`: what this build would do to a
// state database (store::plan_migrations), for an administrator about to
// upgrade. Pure, unit-tested.

#include <string>

#include "services/store.hpp"

namespace banger {

/// Several lines, each ending in '\n': the file, its schema version, the
/// pending migrations ("  3  <summary>") or that it is up to date, and that
/// nothing was changed.
std::string format_migration_plan(const std::string& path,
                                  const store::migration_plan& plan);

} // namespace banger

#pragma once
// `banger config show`: the settings bangerd would use, each with where its
// value comes from: the built-in default, a line of config.toml, or a flag
// (the flags of `banger daemon start` / bangerd). Pure apart from reading
// the file; the refusals are load_settings' and bridge_address's, so the
// command fails exactly where the daemon would.

#include <map>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "messages/wire.hpp"
#include "services/settings.hpp"

namespace banger {

struct setting_entry {
  std::string key;    ///< "network.bridge": [table] key of config.toml
  wire::json value;   ///< the effective value (string, number or array)
  std::string origin; ///< "default", "file" or "flag"
  std::string where;  ///< "" (default), "<file>:<line>" or "--bridge"
};

struct settings_report {
  std::string file;
  bool file_exists = false;
  std::vector<setting_entry> entries; ///< in config.toml's order
};

/// The flags that change a setting, as bangerd spells them.
const std::vector<std::string>& setting_flags();

/// Reads `path` (a missing file means defaults), applies `flags` ("--bridge"
/// -> "br1", checked like bangerd checks them) and checks the result.
caf::expected<settings_report>
explain_settings(const std::string& path,
                 const std::map<std::string, std::string>& flags);

/// The value as one line of text: strings as they are, numbers, a list
/// joined by ", " ("(none)" when empty).
std::string setting_text(const wire::json& value);

} // namespace banger

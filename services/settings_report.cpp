#include "services/settings_report.hpp"

#include <charconv>
#include <filesystem>
#include <functional>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "services/accel.hpp"
#include "services/error.hpp"

namespace banger {

namespace {

struct key_desc {
  const char* table;
  const char* key;
  const char* flag; // "" when no flag sets it
  std::function<wire::json(const settings&)> get;
  // Applies a flag's text; an error sentence, or "".
  std::function<std::string(settings&, const std::string&)> set;
};

std::string set_uint(std::uint32_t& out, const std::string& text,
                     std::uint32_t lo, std::uint32_t hi) {
  std::uint32_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || p != text.data() + text.size() || v < lo || v > hi)
    return fmt::format("must be an integer from {} to {}, not \"{}\"", lo, hi,
                       text);
  out = v;
  return "";
}

const std::vector<key_desc>& keys() {
  static const std::vector<key_desc> table{
      {"network", "bridge", "--bridge",
       [](const settings& s) { return wire::json(s.network.bridge); },
       [](settings& s, const std::string& v) {
         s.network.bridge = v;
         return std::string{};
       }},
      {"network", "subnet", "--subnet",
       [](const settings& s) { return wire::json(s.network.subnet); },
       [](settings& s, const std::string& v) {
         s.network.subnet = v;
         return std::string{};
       }},
      {"network", "dns", "--dns",
       [](const settings& s) {
         auto b = bridge_address(s.network);
         return wire::json(b ? dns_listen_address(s.network, *b)
                             : s.network.dns);
       },
       [](settings& s, const std::string& v) {
         s.network.dns = v;
         return std::string{};
       }},
      {"network", "tap_pool", "--tap-pool",
       [](const settings& s) { return wire::json(s.network.tap_pool); },
       [](settings& s, const std::string& v) {
         return set_uint(s.network.tap_pool, v, 0, 64);
       }},
      {"network", "tap_prefix", "",
       [](const settings& s) { return wire::json(s.network.tap_prefix); },
       nullptr},
      {"vm", "stop_timeout", "--stop-timeout",
       [](const settings& s) { return wire::json(s.vm.stop_timeout_s); },
       [](settings& s, const std::string& v) {
         return set_uint(s.vm.stop_timeout_s, v, 1, 3600);
       }},
      {"vm", "boot_timeout", "--boot-timeout",
       [](const settings& s) { return wire::json(s.vm.boot_timeout_s); },
       [](settings& s, const std::string& v) {
         return set_uint(s.vm.boot_timeout_s, v, 1, 3600);
       }},
      {"vm", "accel", "--accel",
       [](const settings& s) { return wire::json(s.vm.accel); },
       [](settings& s, const std::string& v) {
         s.vm.accel = v;
         return check_accel_setting(v);
       }},
      {"vm", "vcpu", "",
       [](const settings& s) { return wire::json(s.vm.vcpu); }, nullptr},
      {"vm", "memory", "",
       [](const settings& s) { return wire::json(s.vm.memory_mib); }, nullptr},
      {"vm", "disk_size", "",
       [](const settings& s) { return wire::json(s.vm.disk_size); }, nullptr},
      {"catalog", "sources", "",
       [](const settings& s) { return wire::json(s.catalog_sources); },
       nullptr},
      {"guest", "files", "",
       [](const settings& s) { return wire::json(s.guest_files); }, nullptr},
  };
  return table;
}

} // namespace

const std::vector<std::string>& setting_flags() {
  static const std::vector<std::string> flags = [] {
    std::vector<std::string> out;
    for (auto& k : keys())
      if (*k.flag != '\0')
        out.push_back(k.flag);
    return out;
  }();
  return flags;
}

caf::expected<settings_report>
explain_settings(const std::string& path,
                 const std::map<std::string, std::string>& flags) {
  settings conf;
  if (auto ok = load_settings(path, conf); !ok)
    return ok.error();
  settings_report report;
  report.file = path;
  std::error_code fec;
  report.file_exists = std::filesystem::exists(path, fec);
  toml::table doc;
  if (report.file_exists) {
    try {
      doc = toml::parse_file(path); // load_settings has checked it
    } catch (const toml::parse_error& e) {
      return make_error(ec::invalid_argument,
                        fmt::format("{}:{}: {}; fix the file", path,
                                    e.source().begin.line, e.description()));
    }
  }
  for (auto& [flag, _] : flags) {
    bool known = false;
    for (auto& k : keys())
      known = known || flag == k.flag;
    if (!known)
      return make_error(
          ec::invalid_argument,
          fmt::format("{} is not a flag that changes a setting", flag));
  }
  for (auto& k : keys())
    if (auto it = flags.find(k.flag); *k.flag != '\0' && it != flags.end())
      if (auto why = k.set(conf, it->second); !why.empty())
        return make_error(ec::invalid_argument,
                          fmt::format("{} {}: {}", k.flag, it->second, why));
  if (auto b = bridge_address(conf.network); !b)
    return make_error(
        ec::invalid_argument,
        fmt::format("{}; fix {} or the flag", error_message(b.error()), path));
  for (auto& k : keys()) {
    setting_entry e;
    e.key = fmt::format("{}.{}", k.table, k.key);
    e.value = k.get(conf);
    if (*k.flag != '\0' && flags.count(k.flag) > 0) {
      e.origin = "flag";
      e.where = k.flag;
    } else if (auto* n = doc.at_path(e.key).node(); n != nullptr) {
      e.origin = "file";
      e.where = fmt::format("{}:{}", path, n->source().begin.line);
    } else {
      e.origin = "default";
    }
    report.entries.push_back(std::move(e));
  }
  return report;
}

std::string setting_text(const wire::json& value) {
  if (value.is_string())
    return value.get<std::string>();
  if (value.is_array()) {
    if (value.empty())
      return "(none)";
    std::string out;
    for (auto& v : value)
      out += (out.empty() ? "" : ", ") + setting_text(v);
    return out;
  }
  return value.dump();
}

} // namespace banger

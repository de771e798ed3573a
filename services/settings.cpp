#include "services/settings.hpp"

#include <filesystem>
#include <functional>
#include <set>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "services/accel.hpp"
#include "services/error.hpp"
#include "services/host_files.hpp"
#include "services/units.hpp"
#include "services/work_disk.hpp"

namespace banger {

namespace {

std::string where(const std::string& path, const toml::node& n) {
  auto src = n.source();
  return fmt::format("{}:{}", path, src.begin.line);
}

caf::error bad_key(const std::string& path, const toml::node& n,
                   const std::string& key, const std::string& why) {
  return make_error(ec::invalid_argument,
                    fmt::format("{}: {} {}; fix or remove it", where(path, n),
                                key, why));
}

template <class T>
caf::expected<void> read_string(const std::string& path, const toml::table& t,
                                const char* table, const char* key, T& out) {
  auto* n = t.get(key);
  if (n == nullptr)
    return caf::unit;
  auto v = n->value<std::string>();
  if (!n->is_string() || !v)
    return bad_key(path, *n, fmt::format("[{}] {}", table, key),
                   "must be a string");
  out = *v;
  return caf::unit;
}

caf::expected<void> read_uint(const std::string& path, const toml::table& t,
                              const char* table, const char* key,
                              std::uint32_t& out, std::uint32_t lo,
                              std::uint32_t hi) {
  auto* n = t.get(key);
  if (n == nullptr)
    return caf::unit;
  auto v = n->value<std::int64_t>();
  if (!n->is_integer() || !v || *v < lo || *v > hi)
    return bad_key(path, *n, fmt::format("[{}] {}", table, key),
                   fmt::format("must be an integer from {} to {}", lo, hi));
  out = static_cast<std::uint32_t>(*v);
  return caf::unit;
}

caf::expected<void> only_keys(const std::string& path, const toml::table& t,
                              const std::string& table,
                              std::set<std::string> known) {
  for (auto&& [k, v] : t) {
    std::string key{k.str()};
    if (known.count(key) == 0)
      return bad_key(path, v,
                     table.empty() ? "[" + key + "]" : "[" + table + "] " + key,
                     "is not a setting banger knows");
  }
  return caf::unit;
}

// An array of non-empty strings at [table] key, each passed through `take`
// (which returns "" or why the entry is wrong, and may rewrite it). `hint`
// says what an entry is, for the errors. `out` changes only on success.
caf::expected<void>
read_entries(const std::string& path, const toml::table& t, const char* table,
             const char* key, const char* hint,
             const std::function<std::string(std::string&)>& take,
             std::vector<std::string>& out) {
  auto* n = t.get(key);
  if (n == nullptr)
    return caf::unit;
  auto what = fmt::format("[{}] {}", table, key);
  auto* arr = n->as_array();
  if (arr == nullptr)
    return bad_key(path, *n, what, fmt::format("must be an array of strings ({})", hint));
  std::vector<std::string> entries;
  for (auto& item : *arr) {
    auto v = item.value<std::string>();
    if (!item.is_string() || !v || v->empty())
      return bad_key(path, item, what, fmt::format("must hold non-empty strings ({})", hint));
    auto entry = *v;
    if (auto why = take(entry); !why.empty())
      return bad_key(path, item, what, fmt::format("entry \"{}\" {}", *v, why));
    entries.push_back(std::move(entry));
  }
  out = std::move(entries);
  return caf::unit;
}

// [catalog] sources: strings naming a path, file:// or http(s):// URL.
// Relative paths are taken relative to the settings file, not to wherever
// the daemon happens to run.
caf::expected<void> read_sources(const std::string& path, const toml::table& t,
                                 std::vector<std::string>& out) {
  auto take = [&path](std::string& v) -> std::string {
    auto sep = v.find("://");
    if (sep != std::string::npos) {
      auto scheme = v.substr(0, sep);
      if (scheme != "http" && scheme != "https" && scheme != "file")
        return fmt::format("has scheme \"{}\"; use a path, file://, http:// or https://",
                           scheme);
      return "";
    }
    std::filesystem::path p{v};
    if (p.is_relative())
      p = std::filesystem::absolute(path).parent_path() / p;
    v = p.lexically_normal().string();
    return "";
  };
  return read_entries(path, t, "catalog", "sources", "paths or URLs", take, out);
}

// [guest] files: "~/path" or "SRC:DEST" (services/host_files.hpp). The home
// is the daemon owner's, known later; any absolute one checks the form.
caf::expected<void> read_guest_files(const std::string& path, const toml::table& t,
                                     std::vector<std::string>& out) {
  auto take = [](std::string& v) {
    host_file_rule rule;
    return parse_host_file_rule(v, "/home/owner", rule);
  };
  return read_entries(path, t, "guest", "files", "\"~/path\" or \"SRC:DEST\"", take, out);
}

} // namespace

caf::expected<void> load_settings(const std::string& path, settings& into) {
  std::error_code fec;
  if (!std::filesystem::exists(path, fec))
    return caf::unit;
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return make_error(ec::invalid_argument,
                      fmt::format("{}:{}: {}; fix the file", path,
                                  e.source().begin.line, e.description()));
  }
  if (auto ok = only_keys(path, root, "", {"network", "vm", "catalog", "guest"}); !ok)
    return ok;
  auto table_of = [&](const char* name) -> caf::expected<const toml::table*> {
    auto* n = root.get(name);
    if (n == nullptr)
      return static_cast<const toml::table*>(nullptr);
    if (!n->is_table())
      return bad_key(path, *n, name, "must be a table ([" + std::string{name} + "])");
    return n->as_table();
  };
  auto net = table_of("network");
  if (!net)
    return net.error();
  if (*net != nullptr) {
    const auto& t = **net;
    auto& n = into.network;
    if (auto ok = only_keys(path, t, "network", {"bridge", "subnet", "dns", "tap_pool", "tap_prefix"}); !ok)
      return ok;
    for (auto ok : {read_string(path, t, "network", "bridge", n.bridge),
                    read_string(path, t, "network", "subnet", n.subnet),
                    read_string(path, t, "network", "dns", n.dns),
                    read_string(path, t, "network", "tap_prefix", n.tap_prefix),
                    read_uint(path, t, "network", "tap_pool", n.tap_pool, 0, 64)})
      if (!ok)
        return ok;
  }
  auto vm = table_of("vm");
  if (!vm)
    return vm.error();
  if (*vm != nullptr) {
    const auto& t = **vm;
    if (auto ok = only_keys(path, t, "vm",
                            {"stop_timeout", "boot_timeout", "vcpu", "memory", "disk_size",
                             "accel"});
        !ok)
      return ok;
    for (auto ok : {read_uint(path, t, "vm", "stop_timeout", into.vm.stop_timeout_s, 1, 3600),
                    read_uint(path, t, "vm", "boot_timeout", into.vm.boot_timeout_s, 1, 3600),
                    read_uint(path, t, "vm", "vcpu", into.vm.vcpu, 1, 64),
                    read_uint(path, t, "vm", "memory", into.vm.memory_mib, 64, 65536),
                    read_string(path, t, "vm", "disk_size", into.vm.disk_size),
                    read_string(path, t, "vm", "accel", into.vm.accel)})
      if (!ok)
        return ok;
    if (auto why = check_accel_setting(into.vm.accel); !why.empty())
      return bad_key(path, *t.get("accel"), "[vm] accel", why);
    auto disk = parse_size(into.vm.disk_size);
    auto why = disk ? check_disk_size(*disk)
                    : "must be a size like \"8G\" or \"512M\", not \"" + into.vm.disk_size + "\"";
    if (!why.empty())
      return bad_key(path, *t.get("disk_size"), "[vm] disk_size", why);
  }
  auto cat = table_of("catalog");
  if (!cat)
    return cat.error();
  if (*cat != nullptr) {
    const auto& t = **cat;
    if (auto ok = only_keys(path, t, "catalog", {"sources"}); !ok)
      return ok;
    if (auto ok = read_sources(path, t, into.catalog_sources); !ok)
      return ok;
  }
  auto guest = table_of("guest");
  if (!guest)
    return guest.error();
  if (*guest != nullptr) {
    const auto& t = **guest;
    if (auto ok = only_keys(path, t, "guest", {"files"}); !ok)
      return ok;
    if (auto ok = read_guest_files(path, t, into.guest_files); !ok)
      return ok;
  }
  return caf::unit;
}

caf::expected<ipv4_cidr> bridge_address(const network_settings& net) {
  if (auto why = check_bridge_name(net.bridge))
    return make_error(ec::invalid_argument, "bridge " + *why);
  if (auto why = check_tap_prefix(net.tap_prefix))
    return make_error(ec::invalid_argument, "tap_prefix " + *why);
  if (net.tap_prefix.size() > 11)
    return make_error(ec::invalid_argument,
                      fmt::format("tap_prefix \"{}\" is too long: at most 11 "
                                  "characters, so that TAP names keep 4 random "
                                  "ones within Linux's 15",
                                  net.tap_prefix));
  auto subnet = parse_ipv4_cidr(net.subnet);
  if (!subnet)
    return make_error(ec::invalid_argument,
                      fmt::format("subnet \"{}\" is not an IPv4 network like "
                                  "172.16.0.0/24",
                                  net.subnet));
  if (subnet->prefix < 8 || subnet->prefix > 29)
    return make_error(ec::invalid_argument,
                      fmt::format("subnet \"{}\" must have a prefix from /8 to "
                                  "/29 (room for the bridge and guests)",
                                  net.subnet));
  if ((subnet->addr.value & subnet->mask()) != subnet->addr.value)
    return make_error(ec::invalid_argument,
                      fmt::format("subnet \"{}\" has host bits set; did you mean "
                                  "{}/{}?",
                                  net.subnet,
                                  to_string(ipv4{subnet->addr.value & subnet->mask()}),
                                  subnet->prefix));
  ipv4_cidr bridge{ipv4{subnet->addr.value + 1}, subnet->prefix};
  if (auto why = check_bridge_cidr(to_string(bridge)))
    return make_error(ec::invalid_argument, *why);
  return bridge;
}

std::string dns_listen_address(const network_settings& net,
                               const ipv4_cidr& bridge) {
  return net.dns.empty() ? to_string(bridge.addr) + ":53" : net.dns;
}

} // namespace banger

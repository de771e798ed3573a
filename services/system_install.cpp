#include "services/system_install.hpp"

#include <algorithm>
#include <filesystem>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "messages/helper.hpp"
#include "services/error.hpp"
#include "services/paths.hpp"

namespace banger {

namespace deploy_templates {
// services/deploy_templates.cpp.in, filled by CMake from deploy/*.in.
extern const char* const bangerd_service;
extern const char* const banger_helper_service;
extern const char* const banger_tmpfiles;
} // namespace deploy_templates

namespace {

// Characters a path or name may hold in a unit or tmpfiles line without
// quoting: no whitespace (word splitting), '%' (specifiers), '$'
// (variables), quotes, backslashes or control characters.
bool plain(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '/' || c == '.' || c == '_'
           || c == '-' || c == '+' || c == '@';
  });
}

caf::error bad(std::string what) {
  return make_error(ec::invalid_argument, std::move(what));
}

std::string supplementary_line(const system_install_params& p) {
  if (p.supplementary_groups.empty())
    return "# SupplementaryGroups: none (no kvm group on the installing host)";
  std::string line = "SupplementaryGroups=";
  for (std::size_t i = 0; i < p.supplementary_groups.size(); ++i)
    line += (i > 0 ? " " : "") + p.supplementary_groups[i];
  return line;
}

std::string marker_text(const system_install_params& p) {
  toml::table t{
      {"owner", p.owner},
      {"owner_uid", static_cast<std::int64_t>(p.owner_uid)},
      {"owner_group", p.owner_group},
      {"owner_gid", static_cast<std::int64_t>(p.owner_gid)},
      {"bin_dir", p.bin_dir},
      {"tap_prefix", p.tap_prefix},
      {"version", p.version},
  };
  std::ostringstream out;
  out << "# Written by `banger system install`; `banger system uninstall` "
         "removes it.\n"
         "# While it exists, banger talks to the system daemon "
         "(bangerd.service)"
         "\n# at /run/banger/bangerd/bangerd.sock.\n"
      << toml::toml_formatter{t} << "\n";
  return out.str();
}

} // namespace

std::string_view daemon_unit_template() {
  return deploy_templates::bangerd_service;
}
std::string_view helper_unit_template() {
  return deploy_templates::banger_helper_service;
}
std::string_view tmpfiles_template() {
  return deploy_templates::banger_tmpfiles;
}

caf::expected<std::string>
render_template(std::string_view text,
                const std::map<std::string, std::string>& vars) {
  std::string out;
  out.reserve(text.size());
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto at = text.find('@', pos);
    if (at == std::string_view::npos) {
      out.append(text.substr(pos));
      break;
    }
    out.append(text.substr(pos, at - pos));
    auto end = text.find('@', at + 1);
    auto key = end == std::string_view::npos
                   ? std::string_view{}
                   : text.substr(at + 1, end - at - 1);
    bool is_key =
        !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
          return (c >= 'A' && c <= 'Z') || c == '_';
        });
    if (!is_key) {
      out.push_back('@'); // a lone '@' (none in the templates today) stays
      pos = at + 1;
      continue;
    }
    auto it = vars.find(std::string{key});
    if (it == vars.end())
      return make_error(ec::internal,
                        fmt::format("template placeholder @{}@ has no value; "
                                    "deploy/ and services/system_install.cpp "
                                    "are out of step",
                                    key));
    out.append(it->second);
    pos = end + 1;
  }
  return out;
}

caf::expected<void> check_params(const system_install_params& p) {
  if (!plain(p.owner))
    return bad(fmt::format("owner \"{}\" is not a plain user name", p.owner));
  if (p.owner_uid == 0)
    return bad(fmt::format("owner \"{}\" is root; bangerd must run as an "
                           "ordinary user: pass --owner USER",
                           p.owner));
  if (!plain(p.owner_group))
    return bad(fmt::format("group \"{}\" of owner {} is not a plain group name",
                           p.owner_group, p.owner));
  if (p.bin_dir.empty() || p.bin_dir[0] != '/' || !plain(p.bin_dir))
    return bad(fmt::format("binary directory \"{}\" must be an absolute path "
                           "of letters, digits and / . _ - + only (systemd "
                           "reads spaces, % and $ in ExecStart); install "
                           "banger under /usr/local/bin, or pass --bin-dir",
                           p.bin_dir));
  if (!plain(p.tap_prefix))
    return bad(
        fmt::format("tap_prefix \"{}\" is not a plain name", p.tap_prefix));
  if (auto why = check_bridge_name(p.bridge))
    return bad("[network] " + *why);
  std::string why;
  if (!parse_subnet(p.subnet, &why))
    return bad("[network] " + why);
  for (auto& g : p.supplementary_groups)
    if (!plain(g))
      return bad(fmt::format("group \"{}\" is not a plain group name", g));
  return caf::unit;
}

caf::expected<std::vector<rendered_file>>
render_system_files(const system_install_params& p) {
  if (auto ok = check_params(p); !ok)
    return ok.error();
  std::map<std::string, std::string> vars{
      {"OWNER", p.owner},
      {"OWNER_UID", std::to_string(p.owner_uid)},
      {"OWNER_GROUP", p.owner_group},
      {"OWNER_GID", std::to_string(p.owner_gid)},
      {"BIN_DIR", p.bin_dir},
      {"TAP_PREFIX", p.tap_prefix},
      {"BRIDGE", p.bridge},
      {"SUBNET", p.subnet},
      {"SUPPLEMENTARY_GROUPS", supplementary_line(p)},
  };
  std::vector<rendered_file> files;
  for (auto [name, text] :
       {std::pair{helper_unit, helper_unit_template()},
        std::pair{daemon_unit, daemon_unit_template()},
        std::pair{std::string_view{tmpfiles_path}, tmpfiles_template()}}) {
    auto content = render_template(text, vars);
    if (!content)
      return content.error();
    auto path = name.front() == '/' ? std::string{name}
                                    : fmt::format("{}/{}", unit_dir, name);
    files.push_back({std::move(path), std::move(*content)});
  }
  files.push_back({system_install_marker(), marker_text(p)});
  return files;
}

caf::expected<system_install_params>
read_install_marker(const std::string& path) {
  std::error_code fec;
  if (!std::filesystem::exists(path, fec))
    return make_error(ec::not_found,
                      fmt::format("{} does not exist: banger is not installed "
                                  "as a system service (see: banger system "
                                  "install --help)",
                                  path));
  toml::table t;
  try {
    t = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return bad(fmt::format("{}:{}: {}; reinstall with: banger system install",
                           path, e.source().begin.line, e.description()));
  }
  system_install_params p;
  auto str = [&](const char* key, std::string& out) {
    if (auto v = t[key].value<std::string>())
      out = *v;
  };
  str("owner", p.owner);
  str("owner_group", p.owner_group);
  str("bin_dir", p.bin_dir);
  str("tap_prefix", p.tap_prefix);
  str("version", p.version);
  p.owner_uid = static_cast<uid_t>(t["owner_uid"].value_or<std::int64_t>(0));
  p.owner_gid = static_cast<gid_t>(t["owner_gid"].value_or<std::int64_t>(0));
  if (p.owner.empty() || p.bin_dir.empty())
    return bad(fmt::format("{} lacks owner or bin_dir; reinstall with: banger "
                           "system install",
                           path));
  return p;
}

} // namespace banger

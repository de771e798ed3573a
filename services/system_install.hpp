#pragma once
// What `banger system install` writes: two systemd units (bangerd as the
// owner user, banger-helper as root), a tmpfiles.d file for the system
// directories and a marker that tells the CLI to use them. The texts come
// from the templates in deploy/ (compiled in); rendering is pure and
// unit-tested, the CLI (cli/system_commands.cpp) writes and runs systemctl.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>
#include <sys/types.h>

namespace banger {

inline constexpr std::string_view daemon_unit = "bangerd.service";
inline constexpr std::string_view helper_unit = "banger-helper.service";
/// Where the units go (relative to the root, as systemctl --root).
inline constexpr std::string_view unit_dir = "/etc/systemd/system";
/// The tmpfiles.d file: /etc because an administrator's command writes it
/// (/usr/lib/tmpfiles.d belongs to packages).
inline constexpr std::string_view tmpfiles_path = "/etc/tmpfiles.d/banger.conf";

struct system_install_params {
  std::string owner; ///< user name bangerd runs as
  uid_t owner_uid = 0;
  std::string owner_group;
  gid_t owner_gid = 0;
  /// Where bangerd and banger-helper are (absolute).
  std::string bin_dir;
  std::string tap_prefix = "bgtap";
  /// The helper's bridge and subnet (root's network policy, on its command
  /// line; config.toml's [network] at install time).
  std::string bridge = "banger0";
  std::string subnet = "172.16.0.0/24";
  /// Extra groups of bangerd (e.g. "kvm" for /dev/kvm) when they exist.
  std::vector<std::string> supplementary_groups;
  /// banger's version, recorded in the marker.
  std::string version;
};

struct rendered_file {
  std::string path; ///< absolute, without the root prefix
  std::string content;
};

/// Replaces every `@KEY@` in `text` by vars[KEY]. A placeholder without a
/// value is an ec::internal error naming it (a template and its renderer
/// out of step), never left in the output.
caf::expected<std::string>
render_template(std::string_view text,
                const std::map<std::string, std::string>& vars);

/// Refuses values that systemd or tmpfiles would read differently than
/// meant (whitespace, '%' specifiers, '$' expansion, quotes, relative
/// bin_dir, a root owner): ec::invalid_argument naming the value.
caf::expected<void> check_params(const system_install_params& p);

/// The units, the tmpfiles.d file and the marker, in the order to write.
caf::expected<std::vector<rendered_file>>
render_system_files(const system_install_params& p);

/// The marker's fields, read back (uninstall and status use owner and
/// bin_dir). ec::not_found if `path` does not exist, ec::invalid_argument
/// (with file and line) if it does not parse.
caf::expected<system_install_params>
read_install_marker(const std::string& path);

/// The template texts (deploy/*.in), for tests and --help.
std::string_view daemon_unit_template();
std::string_view helper_unit_template();
std::string_view tmpfiles_template();

} // namespace banger

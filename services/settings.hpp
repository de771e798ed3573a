#pragma once
// The daemon's settings file, config.toml (XDG config dir). Command-line
// flags override it; a missing file means the defaults. Unknown tables or
// keys and wrong types are errors that name the file, line and key, so a
// typo never silently falls back to a default.
//
//   [network]
//   bridge   = "banger0"         # bridge name (the helper creates it)
//   subnet   = "172.16.0.0/24"   # the bridge takes the first host address
//   dns      = ""                # "ip:port" of the .vm DNS server;
//                                # "" = <bridge address>:53
//   tap_pool = 2                 # idle TAPs kept warm
//   tap_prefix = "bgtap"         # TAP names; distinct per daemon sharing a host
//
//   [vm]
//   stop_timeout = 10            # seconds a graceful stop waits
//   boot_timeout = 120           # seconds a boot may take
//   vcpu         = 1             # defaults of vm create / vm run
//   memory       = 256           # MiB
//   disk_size    = "8G"          # the work disk holding /root
//   accel        = "auto"        # "auto" (KVM where it works, else TCG),
//                                # "kvm" or "tcg"
//
//   [catalog]
//   sources = ["https://example.org/banger/catalog.json", "/srv/catalog.json"]
//                                # read after the built-in catalog, in order;
//                                # later ones override earlier entries
//                                # (docs/catalog.md); relative paths are
//                                # relative to this file
//
//   [guest]
//   files = ["~/.config/tool/auth.json", "/etc/tool.conf:.config/tool.conf"]
//                                # host files copied into /root at every
//                                # VM start (services/host_files.hpp)

#include <cstdint>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "messages/helper.hpp"

namespace banger {

struct network_settings {
  std::string bridge = "banger0";
  std::string subnet = "172.16.0.0/24";
  std::string dns;
  std::uint32_t tap_pool = 2;
  std::string tap_prefix = std::string{default_tap_prefix};
  /// Set by the daemon, not the file: the helper's socket.
  std::string helper_socket;
};

struct vm_settings {
  std::uint32_t stop_timeout_s = 10;
  std::uint32_t boot_timeout_s = 120;
  /// Defaults of vm create/run when no flag gives them.
  std::uint32_t vcpu = 1;
  std::uint32_t memory_mib = 256;
  std::string disk_size = "8G"; // checked when read: parse_size, check_disk_size
  std::string accel = "auto";    // "auto", "kvm" or "tcg"
};

struct settings {
  network_settings network;
  vm_settings vm;
  /// [catalog] sources: paths (absolute), file:// or http(s):// URLs.
  std::vector<std::string> catalog_sources;
  /// [guest] files: entries as written ("~/x" or "SRC:DEST"), checked.
  std::vector<std::string> guest_files;
};

/// Reads `path` over `into` (keys present in the file replace the values
/// there). A missing file is not an error.
caf::expected<void> load_settings(const std::string& path, settings& into);

/// Checks the network settings and derives the bridge's own address: the
/// subnet's first host ("172.16.0.0/24" -> 172.16.0.1/24). The subnet must
/// be a network address with a prefix of 8 to 29.
caf::expected<ipv4_cidr> bridge_address(const network_settings& net);

/// The DNS server's "ip:port": `net.dns`, or the bridge's address on 53.
std::string dns_listen_address(const network_settings& net,
                               const ipv4_cidr& bridge);

} // namespace banger

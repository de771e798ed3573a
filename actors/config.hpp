#pragma once
// The daemon's settings as the actors see them (defaults for now; the
// config file arrives with its own issue).

#include <cstdint>
#include <string>
#include <vector>

#include "services/host_files.hpp"
#include "services/paths.hpp"
#include "services/settings.hpp"

namespace banger {

struct daemon_config {
  banger::paths paths;
  std::string default_image = "default";
  std::uint32_t default_vcpu = 1;
  std::uint32_t default_memory_mib = 256;
  std::uint32_t max_vcpu = 64;
  std::uint32_t min_memory_mib = 64;
  std::uint32_t max_memory_mib = 65536;
  /// The work disk (/root) of a VM created without --disk-size.
  std::uint64_t default_disk_bytes = 8ull << 30;
  /// Graceful stop: how long to wait for the guest to power off.
  std::uint32_t stop_timeout_s = 10;
  /// How long a boot may take until the agent answers (TCG is slow).
  std::uint32_t boot_timeout_s = 120;
  /// "auto", "kvm" or "tcg".
  std::string accel = "auto";
  network_settings network;
  /// How networking runs, or why it is off (daemon status, doctor).
  std::string network_note;
  /// Catalogs named in config.toml ([catalog] sources), after the
  /// installation's own.
  std::vector<std::string> catalog_sources;
  /// config.toml's [guest] files, resolved against the owner's home.
  std::vector<host_file_rule> host_files;
};

} // namespace banger

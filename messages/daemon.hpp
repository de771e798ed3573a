#pragma once
// The daemon protocol: status and shutdown.
//
//   "daemon.status" {} -> daemon_status
//   "daemon.stop"   {} -> {}   (VMs keep running)

#include <cstdint>
#include <string>

#include "messages/wire.hpp"

namespace banger {

struct daemon_status {
  std::string version;
  std::int64_t pid = 0;
  std::string socket;
  std::string state_dir;
  std::string accel; // "kvm" or "tcg", and why
  std::uint32_t vms_total = 0;
  std::uint32_t vms_running = 0;
  std::string network; // "bridge banger0 172.16.0.1/24, ..." or "off: why"
  std::int64_t uid = 0; // the daemon's user (the owner)
};

wire::json to_json(const daemon_status& x);
void from_json(const wire::json& j, daemon_status& x);

} // namespace banger

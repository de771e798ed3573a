#include "guest/agent/health.hpp"

#include <ctime>
#include <fstream>

#include <unistd.h>

namespace banger::agent {

agent_health read_health() {
  agent_health h;
#ifdef BANGER_VERSION
  h.version = BANGER_VERSION;
#else
  h.version = "dev";
#endif
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::getline(in, h.boot_id);
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) == 0)
    h.hostname = name;
  // CLOCK_BOOTTIME counts from kernel start, like /proc/uptime, without
  // parsing a file.
  timespec ts{};
  if (::clock_gettime(CLOCK_BOOTTIME, &ts) == 0)
    h.uptime_ms = static_cast<std::uint64_t>(ts.tv_sec) * 1000
                  + static_cast<std::uint64_t>(ts.tv_nsec) / 1000000;
  h.provisioned = ::access(provisioned_marker, F_OK) == 0;
  h.credit_window = credit_window;
  return h;
}

} // namespace banger::agent

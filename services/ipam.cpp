#include "services/ipam.hpp"

#include <fmt/format.h>

namespace banger {

std::optional<ipv4> allocate_ip(const ipv4_cidr& bridge,
                                const std::set<std::string>& used) {
  if (bridge.prefix > 30)
    return std::nullopt;
  auto network = bridge.addr.value & bridge.mask();
  auto broadcast = network | ~bridge.mask();
  for (auto v = network + 1; v < broadcast; ++v) {
    ipv4 ip{v};
    if (ip == bridge.addr || used.count(to_string(ip)) != 0)
      continue;
    return ip;
  }
  return std::nullopt;
}

std::string mac_for(ipv4 ip) {
  return fmt::format("02:62:67:{:02x}:{:02x}:{:02x}", (ip.value >> 16) & 0xff,
                     (ip.value >> 8) & 0xff, ip.value & 0xff);
}

std::uint32_t guest_capacity(const ipv4_cidr& bridge) {
  if (bridge.prefix > 30)
    return 0;
  return (~bridge.mask()) - 2;
}

} // namespace banger

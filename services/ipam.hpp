#pragma once
// Guest addresses on banger's bridge: which one a new VM gets, and the MAC
// that goes with it. Pure: the daemon passes the addresses in use (every
// VM's stored ip plus creates under way) and the store's unique index is
// the backstop that keeps two rows from holding one address.

#include <optional>
#include <set>
#include <string>

#include "messages/helper.hpp"

namespace banger {

/// The lowest host address of `bridge`'s subnet that is neither the
/// network address, the broadcast address, the bridge's own address nor in
/// `used`. Nullopt when the subnet is full.
std::optional<ipv4> allocate_ip(const ipv4_cidr& bridge,
                                const std::set<std::string>& used);

/// A locally administered unicast MAC derived from the address, so that a
/// guest's MAC is stable and unique on the bridge: 02:62:67:xx:xx:xx.
std::string mac_for(ipv4 ip);

/// How many guests fit: host addresses minus the bridge's own.
std::uint32_t guest_capacity(const ipv4_cidr& bridge);

} // namespace banger

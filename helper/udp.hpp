#pragma once
// UDP sockets bound for the daemon, which may not bind privileged ports
// itself (the .vm DNS server listens on port 53 of the bridge address).

#include <cstdint>

#include "messages/helper.hpp"
#include "services/unique_fd.hpp"

namespace banger::helper {

/// An AF_INET datagram socket (CLOEXEC, SO_REUSEADDR) bound to addr:port.
/// Throws op_error: "already_exists" when the address is in use, "internal"
/// for any other refusal of the kernel.
unique_fd bind_udp(ipv4 addr, std::uint16_t port);

} // namespace banger::helper

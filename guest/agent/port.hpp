#pragma once
// The agent's end of the host channel: the virtio-serial port that QEMU names
// org.banger.agent (-device virtserialport,name=org.banger.agent).

#include <optional>
#include <string>

namespace banger::agent {

inline constexpr const char* default_port_name = "org.banger.agent";

/// The /dev path of the virtio-serial port called `name`, once the kernel has
/// registered it (/sys/class/virtio-ports/vportNpM/name).
std::optional<std::string> find_port(const std::string& name);

/// Opens the port read-write and non-blocking, waiting as long as it takes for
/// the device to appear. Returns the fd (close-on-exec).
int open_port(const std::string& name);

} // namespace banger::agent

#pragma once
// The answer to "health": who and how old this guest is.

#include "messages/agent.hpp"

namespace banger::agent {

/// The output credit every exec and attach starts with (health reports it):
/// enough to keep the port busy while the host's credit is on its way, small
/// enough that the host's buffers stay bounded per stream.
inline constexpr std::uint64_t credit_window = 1u << 20;

agent_health read_health();

} // namespace banger::agent

#pragma once
// The answer to "health": who and how old this guest is.

#include "messages/agent.hpp"

namespace banger::agent {

agent_health read_health();

} // namespace banger::agent

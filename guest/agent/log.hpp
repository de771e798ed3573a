#pragma once
// Console messages of the agent. stderr is the guest console (inherited from
// banger-init), the only place a human sees the agent before the host does.

#include <string_view>

namespace banger::agent {

/// Writes "banger-agent: <what>\n" to stderr in one write.
void log(std::string_view what);

/// Same, with ": <strerror(err)>" appended.
void log_errno(std::string_view what, int err);

} // namespace banger::agent

#pragma once
// Starting banger-agent inside the image without copying it there: its fd is
// opened in the initramfs and exec'd (fexecve) after the root switch.

#include <sys/types.h>

namespace banger::init {

/// Opens the agent binary; -1 (and a console line) if it is missing.
int open_agent(const char* path = "/banger-agent");

/// Forks and execs the agent from `fd` in its own session. Returns its pid,
/// or -1 if the fork failed.
pid_t start_agent(int fd);

} // namespace banger::init

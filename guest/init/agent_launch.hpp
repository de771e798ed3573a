#pragma once
// Starting banger-agent inside the image without copying it there: its fd is
// opened in the initramfs and exec'd (fexecve) after the root switch.

#include <sys/types.h>

namespace banger::init {

/// Opens the agent binary; -1 (and a console line) if it is missing.
int open_agent(const char* path = "/banger-agent");

/// The PATH banger-init gives the services it starts.
inline constexpr const char* service_path_env =
  "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Forks a child for a service (agent, sshd): in the child, a session of its
/// own, no blocked signals, stdin on /dev/null, and 0 is returned; in the
/// parent the child's pid, or -1 (and a console line naming `what`).
pid_t fork_service(const char* what);

/// Forks and execs the agent from `fd` in its own session. Returns its pid,
/// or -1 if the fork failed.
pid_t start_agent(int fd);

} // namespace banger::init

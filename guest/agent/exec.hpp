#pragma once
// Starting one command for an "exec" request: fork + exec of argv exactly as
// given (no shell), in its own session so that signals reach its whole group.

#include <string>
#include <vector>

#include <sys/types.h>

#include "messages/agent.hpp"

namespace banger::agent {

/// The parent's ends of a started command. Pipe fds are non-blocking and
/// close-on-exec; stdin_fd is -1 when the spec did not ask for stdin.
struct child_process {
  pid_t pid = -1;
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
};

/// argv[0] that runs the agent's own binary (its workspace commands).
inline constexpr const char* self_program = "@banger-agent";
/// Where `banger vm workspace prepare` puts the repo.
inline constexpr const char* workspace_dir = "/root/repo";

/// The agent's default environment with `extra` (KEY=VALUE) laid over it.
std::vector<std::string> make_environment(const std::vector<std::string>& extra);

/// The directory the command starts in: spec.cwd if set, else the prepared
/// workspace /root/repo, else /root, else /.
std::string working_directory(const exec_spec& spec);

/// Forks and execs. Failures after the fork (program not found, not
/// executable) end the child like a shell would: a message on its stderr and
/// exit 127 / 126. Throws std::system_error when pipes or fork fail.
child_process spawn(const exec_spec& spec);

} // namespace banger::agent

#pragma once
// The one way banger runs programs (in the spirit of folly::Subprocess): an
// argv vector and no shell, a parent-death signal, a process group of its own
// and a timeout that kills the whole group. Never system() or popen().
//
// Everything here blocks: call it from detached actors or workers only.

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <caf/expected.hpp>

namespace banger {

struct run_options {
  /// Kills the child's process group after this long; 0 waits forever.
  std::chrono::milliseconds timeout{0};
  /// Written to the child's stdin, which is then closed.
  std::string stdin_data;
  /// The child's working directory; empty keeps ours.
  std::string cwd;
  /// "KEY=VALUE" entries added to (or replacing in) our environment.
  std::vector<std::string> env_extra;
  /// Resource limits set in the child before exec (soft and hard); 0 leaves
  /// ours. CPU seconds (SIGKILL past it), address space bytes, and the
  /// largest offset it may write a file at (SIGXFSZ past it).
  std::uint64_t limit_cpu_s = 0;
  std::uint64_t limit_as_bytes = 0;
  std::uint64_t limit_fsize_bytes = 0;
  /// Runs the child as this uid/gid with no supplementary groups (needs
  /// root); -1 keeps ours.
  std::int64_t uid = -1;
  std::int64_t gid = -1;
  /// Descriptors the child inherits: {ours, its number in the child} (child
  /// numbers above 2).
  std::vector<std::pair<int, int>> pass_fds{};
};

struct run_result {
  /// The exit status, or -1 if a signal ended the child.
  int exit_code = -1;
  /// The signal that ended the child, or 0 if it exited.
  int signal = 0;
  std::string out;
  std::string err;
  /// True if the timeout fired and the group was killed.
  bool timed_out = false;

  bool ok() const { return exit_code == 0 && signal == 0 && !timed_out; }
};

/// Runs `argv` (looked up in PATH like execvp) to completion, capturing its
/// stdout and stderr. The child gets its own process group and SIGKILL when
/// the calling thread dies. Errors: ec::invalid_argument (empty argv, a bad
/// pass_fds entry, uid/gid that cannot be taken), ec::unavailable (the
/// program does not exist or cannot be executed), ec::internal (pipes,
/// fork, limits). A non-zero exit is not an error: look at the
/// result.
caf::expected<run_result> run(const std::vector<std::string>& argv,
                              const run_options& opts = {});

struct spawn_options {
  /// Files the child's stdout and stderr append to (created 0644); empty
  /// means /dev/null. The same path for both shares one file.
  std::string stdout_path;
  std::string stderr_path;
  /// When set (>= 0): a descriptor the child's stdout and stderr both go to
  /// instead of the paths (for files root opened without following paths).
  int output_fd = -1;
  /// The child's working directory; empty keeps ours.
  std::string cwd;
  /// "KEY=VALUE" entries added to (or replacing in) our environment.
  std::vector<std::string> env_extra;
  /// Runs the child in a session of its own, so that nothing aimed at our
  /// session or terminal reaches it.
  bool new_session = true;
  /// Descriptors the child inherits: {ours, the number it has in the child}
  /// (child numbers above 2). Everything else above stdio is closed.
  std::vector<std::pair<int, int>> pass_fds;
};

/// Starts `argv` detached (double fork): the process is not our child, so it
/// survives us being SIGKILLed, and whoever runs later can watch it with
/// pid_alive / wait_pid_exit. It leads its own process group, its stdin is
/// /dev/null and every other fd of ours is closed. Returns its pid once it
/// has exec'ed; a program that cannot be exec'ed is an error
/// (ec::unavailable), never a silently dead pid.
caf::expected<std::int64_t> spawn_detached(const std::vector<std::string>& argv,
                                           const spawn_options& opts = {});

/// True if `pid` exists and is not a zombie (works for non-children).
bool pid_alive(std::int64_t pid);

/// The process's arguments joined by spaces ("" if it is gone or a zombie).
std::string proc_cmdline(std::int64_t pid);

/// Waits up to `timeout` for `pid` (any process, not only our children) to
/// exit. True if it is gone (or was never there). Uses pidfd_open(2) and
/// falls back to polling /proc every 10 ms.
bool wait_pid_exit(std::int64_t pid, std::chrono::milliseconds timeout);

/// A sentence for "program not found" naming the package that provides it,
/// e.g. "qemu-img not found; install qemu-utils".
std::string missing_program_message(const std::string& program);

} // namespace banger

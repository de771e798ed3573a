#pragma once
// Host tools on files a guest wrote (e2fsck, resize2fs and qemu-img on work
// disks and on the disks of `image build`): such a file is crafted input for
// the tool's parser, so the tool gets the file and nothing more. It never
// runs as root: when bangerd itself is root (its owner is root), the tool
// runs as an id that no account has (untrusted_tool_id), and the files it
// may write are lent to that id for the run and given back after. Always:
// the files are opened by us with O_NOFOLLOW and reached by the tool only
// through those descriptors (argv names them /proc/self/fd/N: no path is
// looked up twice, and the tool needs no access to the directories), with
// rlimits (CPU time, address space, file size) and a timeout. Blocking: run
// in workers.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "services/process.hpp"

namespace banger {

/// The uid and gid a tool runs as when bangerd is root.
inline constexpr std::uint32_t untrusted_tool_id = 2147483646;

struct tool_file {
  std::string path;
  /// Opened read-write (and lent to the tool's id when we are root); else
  /// read-only, never lent: the tool's id must be able to read it.
  bool writable = true;
};

struct guest_file_tool {
  /// The command; "{N}" in an argument stands for files[N].
  std::vector<std::string> argv;
  /// Regular files (symlinks refused).
  std::vector<tool_file> files;
  /// Wall clock; also the CPU time limit.
  std::chrono::seconds timeout{300};
  /// The largest offset the tool may write at (RLIMIT_FSIZE); 0: the
  /// largest size of the writable files (tools that rewrite in place).
  std::uint64_t max_file_bytes = 0;
  /// Address space (RLIMIT_AS).
  std::uint64_t max_memory_bytes = 4ull << 30;
};

/// Runs `t` as described above. Errors: ec::invalid_argument (a file is not
/// a regular file or is a symlink, naming it), ec::unavailable (a file
/// cannot be opened), and run()'s errors. A tool's own failure is in the
/// result, as with run().
caf::expected<run_result> run_guest_file_tool(const guest_file_tool& t);

} // namespace banger

#pragma once
// Writes a workspace plan as one tar stream (pax restricted: plain ustar
// unless a name, target or size needs pax records; names as raw bytes) with
// libarchive. Files are streamed from disk in 64 KiB pieces, never whole in
// memory. The guest reads it with guest/agent/untar.

#include <cstdint>
#include <functional>
#include <vector>

#include <caf/expected.hpp>

#include "services/workspace.hpp"

namespace banger::workspace {

/// Takes the next piece of the stream; false stops writing (the reader went
/// away), which write_tar reports as ec::cancelled.
using sink_fn = std::function<bool(const char* data, std::size_t size)>;

/// Writes every entry of `lists`, in order, then the end-of-archive marker.
/// A file that shrank since it was listed is padded with zeros, one that grew
/// is cut at the listed size (the archive stays well-formed). Returns the
/// bytes written.
caf::expected<std::uint64_t>
write_tar(const std::vector<const std::vector<entry>*>& lists,
          const sink_fn& sink);

/// The plan's worktree part, then its .git.
inline caf::expected<std::uint64_t> write_tar(const plan& p,
                                              const sink_fn& sink) {
  return write_tar({&p.files, &p.git}, sink);
}

} // namespace banger::workspace

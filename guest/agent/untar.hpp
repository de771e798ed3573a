#pragma once
// The guest side of `banger vm workspace prepare`: unpacks the tar stream the
// host writes (ustar with pax extended headers, as libarchive's
// pax_restricted format makes it) into a directory, safely: no absolute
// paths, no "..", nothing written through a symlink (every component is
// opened with O_NOFOLLOW), no hard links or device nodes. Symlinks themselves
// are created as they come, whatever they point at: they are data, never
// followed while unpacking.
//
// No libarchive here: the agent is static and Debian ships no static
// libacl/liblz4 that libarchive.a needs; the format subset is small.

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace banger::agent {

struct untar_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Reads up to `size` bytes into `buf`; 0 means end of input. Throws on error.
using read_fn = std::function<std::size_t(char* buf, std::size_t size)>;
/// Told the total bytes consumed so far, now and then (every ~1 MiB).
using progress_fn = std::function<void(std::uint64_t consumed)>;

struct untar_stats {
  std::uint64_t files = 0;
  std::uint64_t dirs = 0;
  std::uint64_t symlinks = 0;
  std::uint64_t bytes = 0;    // file contents written
  std::uint64_t consumed = 0; // stream bytes read, headers included
};

/// The components of an archive path ("./a//b/" -> {"a", "b"}). Throws
/// untar_error for empty, absolute, or ".." paths and NUL bytes.
std::vector<std::string> safe_components(const std::string& path);

/// Unpacks the stream into the directory open as `root_fd` (which it does
/// not close). Stops at the end-of-archive marker, then reads the input to
/// its end. Throws untar_error naming the entry on anything unsafe or
/// malformed.
untar_stats untar(int root_fd, const read_fn& in,
                  const progress_fn& progress = {});

} // namespace banger::agent

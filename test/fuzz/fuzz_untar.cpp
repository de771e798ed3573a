// The guest agent's workspace untar (guest/agent/untar): the input is the
// tar stream the host would send, handed over in reads of varying size,
// unpacked into a fresh directory. Checked:
//  - untar returns or throws untar_error; nothing else escapes;
//  - nothing is written outside that directory (scratch.hpp's trap), and
//    nothing through a symlink the stream made;
//  - only directories, regular files with one link and symlinks exist there
//    (no hard links, device nodes or fifos);
//  - on success it consumed the whole input, and counted what it wrote.

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "guest/agent/untar.hpp"
#include "test/fuzz/scratch.hpp"

using namespace banger;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  static fuzz::scratch s;
  auto work = s.fresh_work();
  int root = ::open(work.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root < 0)
    fuzz::fs_bug("cannot open " + work);
  // Reads as a pipe gives them: short and of varying length.
  std::size_t at = 0, turn = 0;
  auto in = [&](char* buf, std::size_t want) -> std::size_t {
    static constexpr std::size_t sizes[] = {1, 511, 512, 513, 4096, 65536};
    auto n = std::min({want, size - at, sizes[turn++ % std::size(sizes)]});
    std::memcpy(buf, data + at, n);
    at += n;
    return n;
  };
  bool ok = true;
  agent::untar_stats stats;
  try {
    stats = agent::untar(root, in);
  } catch (const agent::untar_error& e) {
    ok = false;
    if (std::strlen(e.what()) == 0)
      fuzz::fs_bug("an untar_error without a message");
  }
  ::close(root);
  if (ok && (stats.consumed != size || at != size))
    fuzz::fs_bug("untar succeeded without reading its whole input");
  std::uint64_t files = 0, links = 0;
  s.finish(
      [&](const struct stat& st, const std::string& path) {
        if (S_ISREG(st.st_mode) && st.st_nlink == 1)
          ++files;
        else if (S_ISDIR(st.st_mode))
          return;
        else if (S_ISLNK(st.st_mode))
          ++links;
        else
          fuzz::fs_bug("the workspace holds " + path
                       + ", which is not a directory, a file with one link or "
                         "a symlink");
      },
      {});
  // Entries may replace each other, so the tree holds at most what was
  // counted (directories are also made implicitly for an entry's parents).
  if (ok && (files > stats.files || links > stats.symlinks))
    fuzz::fs_bug("the workspace holds more than untar says it wrote");
  return 0;
}

// The catalog bundle unpacker (services/bundle_unpack): the input is a
// bundle (tar, zstd or gzip), unpacked as an image and as a kernel bundle.
// Checked:
//  - unpack_bundle returns contents or an error with a message, never
//    crashes;
//  - nothing is written outside the destination (scratch.hpp's trap);
//  - on an error the destination is left as it was: removed (it did not
//    exist before);
//  - what an accepted bundle holds are only directories, regular files and
//    (under modules/) symlinks.

#include <cstdint>

#include "services/bundle.hpp"
#include "services/error.hpp"
#include "test/fuzz/scratch.hpp"

using namespace banger;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  static fuzz::scratch s;
  auto archive = fuzz::write_input(s, "in.bundle", data, size);
  for (const char* kind : {"image", "kernel"}) {
    auto work = s.fresh_work();
    auto dest = work + "/out";
    auto r = unpack_bundle(archive, dest, kind);
    struct stat st {};
    bool exists = ::lstat(dest.c_str(), &st) == 0;
    if (!r) {
      if (error_message(r.error()).empty())
        fuzz::fs_bug("unpack_bundle failed without a message");
      if (exists)
        fuzz::fs_bug(std::string("unpack_bundle failed (")
                     + error_message(r.error())
                     + ") and left its destination behind");
    } else if (!exists || !S_ISDIR(st.st_mode)) {
      fuzz::fs_bug("unpack_bundle succeeded without a destination directory");
    }
    s.finish(
        [&](const struct stat& e, const std::string& path) {
          bool ok = S_ISDIR(e.st_mode) || S_ISREG(e.st_mode)
                    || (S_ISLNK(e.st_mode)
                        && path.find("/modules/") != std::string::npos);
          if (!ok)
            fuzz::fs_bug(
                "an unpacked " + std::string(kind) + " bundle holds " + path
                + ", which is neither a directory, a file nor a symlink in "
                  "modules/");
        },
        {"in.bundle"});
  }
  s.remove_input("in.bundle");
  return 0;
}

// The OCI layer reader of the rootfs builder (services/rootfs_builder):
// the input is one or more layer tarballs (plain, gzip or zstd, told apart
// by their magic) separated by layer_separator, applied in order and staged
// (everything build_rootfs does before mke2fs). Checked:
//  - stage_rootfs returns a value or an error with a message; never crashes;
//  - nothing is written outside the work directory (scratch.hpp's trap);
//  - the staging tree holds only what an unprivileged copy may: directories
//    (0700), regular files (0600) and symlinks; no device node, fifo, or
//    setuid bit ever exists on the host.

#include <cstdint>
#include <string_view>
#include <vector>

#include "services/error.hpp"
#include "services/rootfs_builder.hpp"
#include "test/fuzz/scratch.hpp"

using namespace banger;

namespace {

constexpr std::string_view layer_separator = "\n--banger-layer--\n";

layer_compression sniff(std::string_view data) {
  if (data.size() >= 2 && data[0] == '\x1f' && data[1] == '\x8b')
    return layer_compression::gzip;
  if (data.size() >= 4 && data.substr(0, 4) == "\x28\xb5\x2f\xfd")
    return layer_compression::zstd;
  return layer_compression::none;
}

void check_staged(const struct stat& st, const std::string& path) {
  auto perm = st.st_mode & 07777;
  if (S_ISDIR(st.st_mode)   ? perm != 0700
      : S_ISREG(st.st_mode) ? perm != 0600
                            : !S_ISLNK(st.st_mode)) {
    char mode[16];
    std::snprintf(mode, sizeof mode, "0%o", static_cast<unsigned>(st.st_mode));
    fuzz::fs_bug(
        "the staging tree holds " + path + " with mode " + mode
        + "; only private directories, files and symlinks may exist there");
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  static fuzz::scratch s;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> parts;
  for (std::size_t at = 0;;) {
    auto sep = in.find(layer_separator, at);
    parts.push_back(
        in.substr(at, sep == std::string_view::npos ? sep : sep - at));
    if (sep == std::string_view::npos || parts.size() == 4)
      break;
    at = sep + layer_separator.size();
  }
  std::vector<layer_source> layers;
  std::vector<std::string> files;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    auto name = "layer" + std::to_string(i);
    auto path = fuzz::write_input(
        s, name.c_str(), reinterpret_cast<const std::uint8_t*>(parts[i].data()),
        parts[i].size());
    layers.push_back({path, sniff(parts[i])});
    files.push_back(name);
  }
  rootfs_options opts;
  opts.work_dir = s.fresh_work();
  opts.output = s.dir() + "/work/never.ext4";
  auto r = stage_rootfs(layers, opts);
  if (!r && error_message(r.error()).empty())
    fuzz::fs_bug("stage_rootfs failed without a message");
  s.finish(
      [&](const struct stat& st, const std::string& path) {
        if (path.rfind("root/", 0) == 0 || path == "root")
          check_staged(st, path);
      },
      files);
  for (auto& f : files)
    s.remove_input(f);
  return 0;
}

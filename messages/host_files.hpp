#pragma once
// Host files for the guest's home: config.toml's [guest] files, read by
// bangerd at every start and handed to banger-init through fw_cfg
// (opt/banger/host-files), which writes them under /root before the image's
// init runs. Never part of an image: image build's VMs get none.
//
// The blob, header-only so that the static guest init can decode it:
//   "banger-host-files 1\n"
//   then per file: "<mode, octal> <size> <path>\n" <size bytes> "\n"
// <path> is relative to the guest's home (see check_home_path).

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace banger::host_files {

inline constexpr const char* fw_cfg_name = "host-files";
inline constexpr std::string_view magic = "banger-host-files 1\n";

struct file {
  std::string path; // relative to the home, e.g. ".config/tool/auth.json"
  std::uint32_t mode = 0600;
  std::string data;
};

/// "" when `path` can name a file under the home: relative, no empty, "."
/// or ".." component, no newline or NUL, at most 4096 bytes. Else why not.
inline std::string check_home_path(std::string_view path) {
  if (path.empty())
    return "is empty";
  if (path.size() > 4096)
    return "is longer than 4096 bytes";
  if (path.front() == '/')
    return "must be relative to the guest's home, not absolute";
  if (path.find('\n') != std::string_view::npos
      || path.find('\0') != std::string_view::npos)
    return "holds a newline or NUL";
  std::size_t start = 0;
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == std::string_view::npos)
      end = path.size();
    auto part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == "..")
      return "must not have empty, \".\" or \"..\" components";
    start = end + 1;
  }
  return "";
}

inline std::string encode(const std::vector<file>& files) {
  std::string out(magic);
  for (auto& f : files) {
    char mode[16];
    std::snprintf(mode, sizeof mode, "%o", static_cast<unsigned>(f.mode & 07777));
    out += mode;
    out += ' ';
    out += std::to_string(f.data.size());
    out += ' ';
    out += f.path;
    out += '\n';
    out += f.data;
    out += '\n';
  }
  return out;
}

/// The files of a blob, or nullopt with `why` set when it is malformed
/// (then nothing of it is to be used).
inline std::optional<std::vector<file>> decode(std::string_view blob,
                                               std::string& why) {
  if (blob.substr(0, magic.size()) != magic) {
    why = "not a banger host-files blob";
    return std::nullopt;
  }
  blob.remove_prefix(magic.size());
  std::vector<file> out;
  while (!blob.empty()) {
    auto nl = blob.find('\n');
    if (nl == std::string_view::npos) {
      why = "a header line is cut short";
      return std::nullopt;
    }
    auto header = blob.substr(0, nl);
    blob.remove_prefix(nl + 1);
    auto sp1 = header.find(' ');
    auto sp2 = sp1 == std::string_view::npos ? sp1 : header.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos) {
      why = "a header line is malformed";
      return std::nullopt;
    }
    file f;
    std::uint64_t mode = 0, size = 0;
    auto digits = [](std::string_view s, unsigned base, std::uint64_t& v) {
      if (s.empty() || s.size() > 19)
        return false;
      v = 0;
      for (char c : s) {
        unsigned d = static_cast<unsigned>(c - '0');
        if (c < '0' || d >= base)
          return false;
        v = v * base + d;
      }
      return true;
    };
    if (!digits(header.substr(0, sp1), 8, mode) || mode > 07777
        || !digits(header.substr(sp1 + 1, sp2 - sp1 - 1), 10, size)) {
      why = "a header line has a bad mode or size";
      return std::nullopt;
    }
    f.mode = static_cast<std::uint32_t>(mode);
    f.path = std::string(header.substr(sp2 + 1));
    if (auto bad = check_home_path(f.path); !bad.empty()) {
      why = "path \"" + f.path + "\" " + bad;
      return std::nullopt;
    }
    if (blob.size() < size + 1 || blob[size] != '\n') {
      why = "the data of " + f.path + " is cut short";
      return std::nullopt;
    }
    f.data = std::string(blob.substr(0, size));
    blob.remove_prefix(size + 1);
    out.push_back(std::move(f));
  }
  return out;
}

} // namespace banger::host_files

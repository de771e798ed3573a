#pragma once
// config.toml's [guest] files: host files copied into every VM's home at
// each start (a coding agent's auth or config files, say). The daemon reads
// them and hands them to the guest in one fw_cfg blob
// (messages/host_files.hpp); they never reach an image.
//
//   [guest]
//   files = ["~/.config/tool/auth.json",          # -> /root/.config/tool/auth.json
//            "/etc/tool.conf:.config/tool.conf"]  # SRC:DEST, DEST under /root

#include <cstdint>
#include <string>
#include <vector>

namespace banger {

struct host_file_rule {
  std::string entry;  // as written in config.toml
  std::string source; // absolute host path
  std::string dest;   // relative to the guest's home
};

/// One entry: "SRC" or "SRC:DEST". SRC is absolute or starts with "~/"
/// (`home`). DEST is relative to the guest's home ("~/" allowed); without
/// it, SRC's path below `home`, or SRC's file name when SRC is elsewhere.
/// Returns "" and fills `out`, or why the entry is wrong.
std::string parse_host_file_rule(const std::string& entry,
                                 const std::string& home, host_file_rule& out);

/// At most this much per file and in all, so a mistaken entry (a disk
/// image, a log) cannot bloat every start.
inline constexpr std::uint64_t host_file_max_bytes = 1u << 20;
inline constexpr std::uint64_t host_files_max_total = 8u << 20;

struct host_files_blob {
  std::string blob;               // messages/host_files.hpp; "" when no file
  std::size_t files = 0;
  std::vector<std::string> notes; // files skipped, and why
};

/// Reads every rule's file (following symlinks; regular files only; their
/// permission bits kept). A missing, unreadable or too large file is
/// skipped with a note, never an error: the VM starts without it.
host_files_blob collect_host_files(const std::vector<host_file_rule>& rules);

} // namespace banger

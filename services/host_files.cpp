#include "services/host_files.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include <sys/stat.h>

#include "messages/host_files.hpp"
#include "services/units.hpp"

namespace banger {

std::string parse_host_file_rule(const std::string& entry,
                                 const std::string& home, host_file_rule& out) {
  auto colon = entry.find(':');
  std::string src = entry.substr(0, colon);
  std::string dest = colon == std::string::npos ? "" : entry.substr(colon + 1);
  auto under_home = [](const std::string& p) { return p.rfind("~/", 0) == 0; };
  if (under_home(src))
    src = home + src.substr(1);
  else if (src.empty() || src.front() != '/')
    return "names \"" + entry.substr(0, colon)
           + "\"; the host file must be an absolute path or start with ~/";
  while (src.size() > 1 && src.back() == '/')
    src.pop_back();
  if (colon != std::string::npos) {
    if (under_home(dest))
      dest = dest.substr(2);
  } else if (src.size() > home.size() + 1 && src.rfind(home + "/", 0) == 0) {
    dest = src.substr(home.size() + 1);
  } else {
    dest = src.substr(src.rfind('/') + 1);
  }
  if (auto why = host_files::check_home_path(dest); !why.empty())
    return "puts the file at \"" + dest + "\", which " + why
           + " (write SRC:DEST with DEST under the guest's home, e.g. "
             "\"/etc/tool.conf:.config/tool.conf\")";
  out = {entry, src, dest};
  return "";
}

host_files_blob collect_host_files(const std::vector<host_file_rule>& rules) {
  host_files_blob out;
  std::vector<host_files::file> files;
  std::uint64_t total = 0;
  for (auto& r : rules) {
    struct stat sb {};
    if (::stat(r.source.c_str(), &sb) != 0) {
      out.notes.push_back(r.source + ": " + std::strerror(errno) + "; not copied");
      continue;
    }
    if (!S_ISREG(sb.st_mode)) {
      out.notes.push_back(r.source + ": not a regular file; not copied");
      continue;
    }
    auto size = static_cast<std::uint64_t>(sb.st_size);
    if (size > host_file_max_bytes || total + size > host_files_max_total) {
      out.notes.push_back(r.source + ": " + format_bytes(size)
                          + " is over the limit (" + format_bytes(host_file_max_bytes)
                          + " a file, " + format_bytes(host_files_max_total)
                          + " in all); not copied");
      continue;
    }
    std::ifstream in(r.source, std::ios::binary);
    std::string data{std::istreambuf_iterator<char>(in), {}};
    if (!in.good() && !in.eof()) {
      out.notes.push_back(r.source + ": cannot be read; not copied");
      continue;
    }
    total += data.size();
    files.push_back({r.dest, static_cast<std::uint32_t>(sb.st_mode & 07777),
                     std::move(data)});
  }
  out.files = files.size();
  if (!files.empty())
    out.blob = host_files::encode(files);
  return out;
}

} // namespace banger

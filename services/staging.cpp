#include "services/staging.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <fcntl.h>

#include "services/error.hpp"
#include "services/timefmt.hpp"

namespace banger {

namespace fs = std::filesystem;

caf::expected<std::string> make_staging_dir(const std::string& parent,
                                            const std::string& what) {
  std::error_code ec;
  fs::create_directories(parent, ec);
  auto dir = parent + "/." + what + "-" + random_id();
  if (!ec)
    fs::create_directory(dir, ec);
  if (ec)
    return make_error(ec::internal, "cannot create " + dir + ": "
                                      + ec.message()
                                      + " (is the state dir writable?)");
  return dir;
}

caf::expected<void> publish_dir(const std::string& from, const std::string& to) {
  // RENAME_NOREPLACE: a plain rename would replace an empty directory.
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(),
                  RENAME_NOREPLACE)
      == 0)
    return {};
  int err = errno;
  if (err == EEXIST || err == ENOTEMPTY)
    return make_error(ec::already_exists,
                      to + " exists already (left from an earlier run? "
                           "remove it, or choose another name)");
  return make_error(ec::internal, "cannot move " + from + " to " + to + ": "
                                    + std::strerror(err));
}

void discard_dir(const std::string& dir) {
  if (dir.empty())
    return;
  std::error_code ec;
  fs::remove_all(dir, ec);
}

int sweep_staging_dirs(const std::string& parent) {
  int n = 0;
  std::error_code ec;
  for (fs::directory_iterator it(parent, ec), end; !ec && it != end;
       it.increment(ec)) {
    auto name = it->path().filename().string();
    if (name.size() > 1 && name[0] == '.' && it->is_directory(ec)) {
      discard_dir(it->path().string());
      ++n;
    }
  }
  return n;
}

} // namespace banger

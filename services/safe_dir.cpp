#include "services/safe_dir.hpp"

#include <cerrno>
#include <cstring>
#include <vector>

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include "services/error.hpp"

namespace banger {

namespace {

std::vector<std::string> components(const std::string& path) {
  std::vector<std::string> parts;
  std::size_t start = 1;
  while (start < path.size()) {
    auto end = path.find('/', start);
    if (end == std::string::npos)
      end = path.size();
    if (end > start)
      parts.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

bool roots_alone(const struct stat& st) {
  return st.st_uid == 0 && (st.st_mode & 022) == 0;
}

/// Walks `path` from /. `create` makes missing components (root's, 0755);
/// `strict` wants every component root's alone (sticky dirs excepted above
/// the last); otherwise symlinks are followed only in such directories.
caf::expected<opened_dir> walk(const std::string& path, bool create,
                               bool strict) {
  if (path.empty() || path[0] != '/')
    return make_error(ec::invalid_argument,
                      fmt::format("{}: not an absolute path", path));
  opened_dir cur;
  cur.fd.reset(::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!cur.fd.valid() || ::fstat(cur.fd.get(), &cur.st) != 0)
    return make_error(ec::internal,
                      fmt::format("cannot open /: {}", std::strerror(errno)));
  std::string so_far;
  auto parts = components(path);
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const auto& name = parts[i];
    so_far += "/" + name;
    if (name == "." || name == "..")
      return make_error(
          ec::invalid_argument,
          fmt::format("{}: '{}' components are not allowed", path, name));
    int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
    if (strict || !roots_alone(cur.st))
      flags |= O_NOFOLLOW;
    int fd = ::openat(cur.fd.get(), name.c_str(), flags);
    if (fd < 0 && errno == ENOENT && create) {
      if (::mkdirat(cur.fd.get(), name.c_str(), 0755) != 0 && errno != EEXIST)
        return make_error(
            ec::unavailable,
            fmt::format("cannot create {}: {}", so_far, std::strerror(errno)));
      fd = ::openat(cur.fd.get(), name.c_str(), flags);
    }
    if (fd < 0) {
      int err = errno;
      if (err == ENOENT)
        return make_error(ec::not_found,
                          fmt::format("{} does not exist", so_far));
      if (err == ELOOP || err == ENOTDIR)
        return make_error(ec::invalid_argument,
                          fmt::format("{} is a symlink or not a directory, in "
                                      "a directory another user may change: "
                                      "root does not follow it; make it a "
                                      "real directory",
                                      so_far));
      return make_error(
          ec::unavailable,
          fmt::format("cannot open {}: {}", so_far, std::strerror(err)));
    }
    opened_dir next;
    next.fd.reset(fd);
    if (::fstat(fd, &next.st) != 0)
      return make_error(
          ec::internal,
          fmt::format("cannot inspect {}: {}", so_far, std::strerror(errno)));
    if (strict) {
      bool last = i + 1 == parts.size();
      bool sticky_ok =
          !last && next.st.st_uid == 0 && (next.st.st_mode & S_ISVTX) != 0;
      if (!roots_alone(next.st) && !sticky_ok)
        return make_error(
            ec::invalid_argument,
            fmt::format("{} belongs to uid {} with mode {:04o}, but root "
                        "relies on it: it must be root's and writable by root "
                        "alone; fix it with `chown root: {} && chmod go-w {}`, "
                        "or use another directory",
                        so_far, next.st.st_uid, next.st.st_mode & 07777, so_far,
                        so_far));
    }
    cur = std::move(next);
  }
  return cur;
}

} // namespace

caf::expected<opened_dir> open_dir_nofollow(const std::string& path) {
  return walk(path, false, false);
}

caf::expected<opened_dir> open_root_dir(const std::string& path) {
  return walk(path, true, true);
}

caf::expected<void> hand_over_dir(const std::string& path, uid_t uid,
                                  gid_t gid) {
  auto dir = open_dir_nofollow(path);
  if (!dir) {
    if (error_code(dir.error()) == ec::not_found)
      return caf::unit;
    return std::move(dir.error());
  }
  if (dir->st.st_uid == uid)
    return caf::unit;
  if (dir->st.st_uid != 0)
    return make_error(ec::invalid_argument,
                      fmt::format("{} belongs to uid {}, not to uid {} who "
                                  "runs bangerd: choose other XDG directories "
                                  "or give it to that user",
                                  path, dir->st.st_uid, uid));
  if (::fchown(dir->fd.get(), uid, gid) != 0)
    return make_error(ec::unavailable,
                      fmt::format("cannot give {} to uid {}: {}", path, uid,
                                  std::strerror(errno)));
  return caf::unit;
}

caf::expected<void> check_root_executable(const std::string& path) {
  auto slash = path.rfind('/');
  if (path.empty() || path[0] != '/' || slash + 1 == path.size())
    return make_error(
        ec::invalid_argument,
        fmt::format("{}: not an absolute path to a program", path));
  auto fix = fmt::format("root runs it, so it must be root's and writable by "
                         "root alone: install it with `sudo install -o root -g "
                         "root -m 0755 {} /usr/local/bin/` and run banger from "
                         "there",
                         path);
  auto dir = walk(slash == 0 ? "/" : path.substr(0, slash), false, true);
  if (!dir)
    return make_error(
        error_code(dir.error()),
        fmt::format("{}: {}; {}", path, error_message(dir.error()), fix));
  unique_fd fd{::openat(dir->fd.get(), path.c_str() + slash + 1,
                        O_PATH | O_NOFOLLOW | O_CLOEXEC)};
  struct stat st {};
  if (!fd.valid() || ::fstat(fd.get(), &st) != 0)
    return make_error(ec::unavailable, fmt::format("cannot inspect {}: {}",
                                                   path, std::strerror(errno)));
  if (!S_ISREG(st.st_mode))
    return make_error(
        ec::invalid_argument,
        fmt::format("{} is not a regular file (a symlink?); {}", path, fix));
  if (st.st_uid != 0 || (st.st_mode & 022) != 0)
    return make_error(
        ec::invalid_argument,
        fmt::format("{} is owned by uid {} with mode {:04o}{}; {}", path,
                    st.st_uid, st.st_mode & 07777,
                    (st.st_mode & 022) != 0 ? " (writable by group or others)"
                                            : "",
                    fix));
  return caf::unit;
}

} // namespace banger

#include "services/staging.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <memory>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "services/error.hpp"
#include "services/timefmt.hpp"
#include "services/unique_fd.hpp"

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
    return make_error(ec::internal, "cannot create " + dir + ": " + ec.message()
                                        + " (is the state dir writable?)");
  return dir;
}

caf::expected<void> publish_dir(const std::string& from,
                                const std::string& to) {
  // RENAME_NOREPLACE: a plain rename would replace an empty directory.
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(),
                  RENAME_NOREPLACE)
      == 0)
    return {};
  int err = errno;
  if (err == EEXIST || err == ENOTEMPTY)
    return make_error(ec::already_exists,
                      to
                          + " exists already (left from an earlier run? "
                            "remove it, or choose another name)");
  return make_error(ec::internal, "cannot move " + from + " to " + to + ": "
                                      + std::strerror(err));
}

namespace {

// Directories whose stream stays open while we are below them; deeper ones
// are closed and found again through ".." (checked by device and inode).
constexpr std::size_t open_levels = 64;

struct close_dir {
  void operator()(DIR* d) const { ::closedir(d); }
};

struct level {
  std::unique_ptr<DIR, close_dir> dir;
  dev_t dev = 0;
  ino_t ino = 0;
  std::string name; // in its parent
};

caf::error remove_failed(const std::string& what, int err) {
  return make_error(ec::unavailable, "cannot remove " + what + ": "
                                         + std::strerror(err)
                                         + "; remove it by hand");
}

// Opens `name` under `parent` as a directory, never through a symlink.
bool open_level(int parent, const char* name, level& out) {
  unique_fd fd{
      ::openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)};
  struct stat st {};
  if (!fd.valid() || ::fstat(fd.get(), &st) != 0)
    return false;
  out.dir.reset(::fdopendir(fd.get()));
  if (!out.dir)
    return false;
  (void)fd.release();
  out.dev = st.st_dev;
  out.ino = st.st_ino;
  return true;
}

} // namespace

caf::expected<void> remove_tree(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0)
    return errno == ENOENT ? caf::expected<void>{} : remove_failed(path, errno);
  if (!S_ISDIR(st.st_mode)) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
      return remove_failed(path, errno);
    return {};
  }
  std::vector<level> stack(1);
  if (!open_level(AT_FDCWD, path.c_str(), stack[0]))
    return remove_failed(path, errno);
  // "where" is only for messages: the path of the deepest level, built on
  // demand.
  auto where = [&](const char* leaf) {
    std::string out = path;
    for (std::size_t i = 1; i < stack.size(); ++i)
      out += "/" + stack[i].name;
    return leaf != nullptr ? out + "/" + leaf : out;
  };
  while (!stack.empty()) {
    auto& cur = stack.back();
    int fd = ::dirfd(cur.dir.get());
    errno = 0;
    struct dirent* e = ::readdir(cur.dir.get());
    if (e != nullptr) {
      const char* name = e->d_name;
      if (std::strcmp(name, ".") == 0 || std::strcmp(name, "..") == 0)
        continue;
      bool is_dir = e->d_type == DT_DIR;
      if (e->d_type == DT_UNKNOWN) {
        struct stat est {};
        is_dir = ::fstatat(fd, name, &est, AT_SYMLINK_NOFOLLOW) == 0
                 && S_ISDIR(est.st_mode);
      }
      if (!is_dir) {
        if (::unlinkat(fd, name, 0) != 0 && errno != ENOENT)
          return remove_failed(where(name), errno);
        continue;
      }
      level next;
      next.name = name;
      if (!open_level(fd, name, next)) {
        if (errno == ENOENT)
          continue;
        return remove_failed(where(name), errno);
      }
      stack.push_back(std::move(next));
      if (stack.size() > open_levels + 1)
        stack[stack.size() - open_levels - 1].dir.reset();
      continue;
    }
    if (errno != 0)
      return remove_failed(where(nullptr), errno);
    // `cur` is empty: go up to its parent (reopened through ".." if its
    // stream was closed) and remove it there.
    if (stack.size() == 1)
      break;
    auto& parent = stack[stack.size() - 2];
    if (!parent.dir) {
      level up;
      if (!open_level(fd, "..", up))
        return remove_failed(where(nullptr), errno);
      if (up.dev != parent.dev || up.ino != parent.ino)
        return make_error(
            ec::bad_state,
            "cannot remove " + where(nullptr)
                + ": its directory was moved while banger removed "
                  "it; remove what is left by hand");
      parent.dir = std::move(up.dir);
    }
    auto name = std::move(cur.name);
    stack.pop_back();
    if (::unlinkat(::dirfd(stack.back().dir.get()), name.c_str(), AT_REMOVEDIR)
            != 0
        && errno != ENOENT)
      return remove_failed(where(name.c_str()), errno);
  }
  stack.clear();
  if (::rmdir(path.c_str()) != 0 && errno != ENOENT)
    return remove_failed(path, errno);
  return {};
}

void discard_dir(const std::string& dir) {
  if (dir.empty())
    return;
  (void)remove_tree(dir);
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

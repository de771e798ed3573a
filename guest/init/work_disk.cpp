#include "guest/init/work_disk.hpp"

#include <cerrno>
#include <chrono>
#include <fstream>
#include <thread>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "guest/init/console.hpp"
#include "messages/work_disk.hpp"

namespace banger::init {

namespace {

constexpr const char* staging_mount = "/work";

std::string first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  while (!line.empty() && (line.back() == ' ' || line.back() == '\r'))
    line.pop_back();
  return line;
}

/// One failure, said on the console.
int failed(const std::string& what, int err) {
  say_errno("work disk: " + what, err);
  return 1;
}

int copy_xattrs(const std::string& from, const std::string& to) {
  std::vector<char> names(64 * 1024);
  auto n = ::llistxattr(from.c_str(), names.data(), names.size());
  if (n < 0)
    return errno == ENOTSUP ? 0 : failed("list xattrs of " + from, errno);
  int errors = 0;
  std::vector<char> value(64 * 1024);
  for (ssize_t i = 0; i < n;) {
    std::string name(names.data() + i);
    i += static_cast<ssize_t>(name.size()) + 1;
    auto len = ::lgetxattr(from.c_str(), name.c_str(), value.data(), value.size());
    if (len < 0 || ::lsetxattr(to.c_str(), name.c_str(), value.data(),
                               static_cast<std::size_t>(len), 0)
                     != 0)
      errors += failed("copy xattr " + name + " of " + from, errno);
  }
  return errors;
}

int copy_file(const std::string& from, const std::string& to) {
  int in = ::open(from.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (in < 0)
    return failed("open " + from, errno);
  int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (out < 0) {
    int err = errno;
    ::close(in);
    return failed("create " + to, err);
  }
  // read/write, not copy_file_range: that fails with EXDEV between two
  // filesystems (the root disk and the work disk) on current kernels.
  int errors = 0;
  std::vector<char> buf(64 * 1024);
  for (;;) {
    auto n = ::read(in, buf.data(), buf.size());
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      errors += failed("read " + from, errno);
      break;
    }
    if (n == 0)
      break;
    for (ssize_t done = 0; done < n;) {
      auto w = ::write(out, buf.data() + done, static_cast<std::size_t>(n - done));
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0) {
        errors += failed("write " + to, errno);
        n = -1;
        break;
      }
      done += w;
    }
    if (n < 0)
      break;
  }
  ::close(in);
  ::close(out);
  return errors;
}

/// Owner, mode (after the owner: chown clears setuid), xattrs and times.
int copy_meta(const std::string& from, const std::string& to, const struct stat& st) {
  int errors = 0;
  if (::lchown(to.c_str(), st.st_uid, st.st_gid) != 0)
    errors += failed("chown " + to, errno);
  if (!S_ISLNK(st.st_mode) && ::chmod(to.c_str(), st.st_mode & 07777) != 0)
    errors += failed("chmod " + to, errno);
  errors += copy_xattrs(from, to);
  struct timespec times[2] = {st.st_atim, st.st_mtim};
  if (::utimensat(AT_FDCWD, to.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0)
    errors += failed("set times of " + to, errno);
  return errors;
}

bool is_dir(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

} // namespace

std::string resolve_block_device(const std::string& spec, const std::string& sys_block) {
  static const std::string prefix = "serial:";
  if (spec.rfind(prefix, 0) != 0)
    return spec;
  auto serial = spec.substr(prefix.size());
  DIR* dir = ::opendir(sys_block.c_str());
  if (dir == nullptr)
    return {};
  std::string found;
  while (auto* ent = ::readdir(dir)) {
    std::string name = ent->d_name;
    if (name == "." || name == "..")
      continue;
    if (first_line(sys_block + "/" + name + "/serial") == serial) {
      found = "/dev/" + name;
      break;
    }
  }
  ::closedir(dir);
  return found;
}

int copy_tree(const std::string& from, const std::string& to) {
  DIR* dir = ::opendir(from.c_str());
  if (dir == nullptr)
    return failed("open " + from, errno);
  int errors = 0;
  while (auto* ent = ::readdir(dir)) {
    std::string name = ent->d_name;
    if (name == "." || name == "..")
      continue;
    auto src = from + "/" + name;
    auto dst = to + "/" + name;
    struct stat st {};
    if (::lstat(src.c_str(), &st) != 0) {
      errors += failed("stat " + src, errno);
      continue;
    }
    int made = 0;
    if (S_ISDIR(st.st_mode)) {
      if (::mkdir(dst.c_str(), 0700) != 0 && errno != EEXIST)
        made = failed("mkdir " + dst, errno);
      else
        errors += copy_tree(src, dst);
    } else if (S_ISREG(st.st_mode)) {
      made = copy_file(src, dst);
    } else if (S_ISLNK(st.st_mode)) {
      std::vector<char> target(static_cast<std::size_t>(st.st_size) + 1);
      auto n = ::readlink(src.c_str(), target.data(), target.size());
      if (n < 0 || ::symlink(std::string(target.data(), static_cast<std::size_t>(n)).c_str(),
                             dst.c_str())
                     != 0)
        made = failed("copy symlink " + src, errno);
    } else if (::mknod(dst.c_str(), st.st_mode, st.st_rdev) != 0) {
      made = failed("mknod " + dst, errno);
    }
    errors += made;
    if (made == 0)
      errors += copy_meta(src, dst, st);
  }
  ::closedir(dir);
  return errors;
}

bool mount_work_disk(const std::string& spec, const std::string& new_root, int wait_s) {
  using namespace std::chrono;
  auto deadline = steady_clock::now() + seconds(wait_s);
  std::string dev;
  while ((dev = resolve_block_device(spec)).empty() || ::access(dev.c_str(), F_OK) != 0) {
    if (steady_clock::now() > deadline) {
      say("work disk " + spec + " did not appear within " + std::to_string(wait_s)
          + " s; /root stays on the root disk");
      return false;
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
  ::mkdir(staging_mount, 0700);
  if (::mount(dev.c_str(), staging_mount, "ext4", MS_NOATIME, nullptr) != 0) {
    failed("mount " + dev + " (ext4); /root stays on the root disk", errno);
    return false;
  }
  auto home = new_root + "/root";
  if (!is_dir(home) && ::mkdir(home.c_str(), 0700) != 0) {
    failed("mkdir " + home + "; /root stays on the root disk", errno);
    ::umount(staging_mount);
    return false;
  }
  auto marker = std::string(staging_mount) + "/" + work_disk_unseeded_marker;
  if (::access(marker.c_str(), F_OK) == 0) {
    struct stat st {};
    int errors = copy_tree(home, staging_mount);
    if (::stat(home.c_str(), &st) == 0)
      errors += copy_meta(home, staging_mount, st);
    ::unlink(marker.c_str());
    int fd = ::open(staging_mount, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
      ::syncfs(fd);
      ::close(fd);
    }
    say("work disk: /root copied from the image"
        + (errors > 0 ? " (" + std::to_string(errors) + " entries failed)" : std::string{}));
  }
  if (::mount(staging_mount, home.c_str(), nullptr, MS_MOVE, nullptr) != 0) {
    failed("move the work disk to " + home + "; /root stays on the root disk", errno);
    ::umount(staging_mount);
    return false;
  }
  return true;
}

} // namespace banger::init

#include "guest/init/files.hpp"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace banger::init {

namespace {

std::string failed(const std::string& what, int err) {
  return what + ": " + std::strerror(err);
}

} // namespace

std::optional<std::string> read_whole_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return std::nullopt;
  std::string out;
  char buf[8192];
  for (;;) {
    auto n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      errno = err;
      return std::nullopt;
    }
    if (n == 0)
      break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

std::string write_file_atomic(const std::string& path, std::string_view data,
                              mode_t mode) {
  auto slash = path.rfind('/');
  auto dir =
      slash == std::string::npos ? std::string(".") : path.substr(0, slash + 1);
  auto base = slash == std::string::npos ? path : path.substr(slash + 1);
  std::string tmp = dir + "." + base + ".banger-XXXXXX";
  int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0)
    return failed("create a temporary file for " + path, errno);
  auto fail = [&](const char* what) {
    int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return failed(std::string(what) + " " + tmp, err);
  };
  while (!data.empty()) {
    auto n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return fail("write");
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  if (::geteuid() == 0 && ::fchown(fd, 0, 0) != 0)
    return fail("chown root:root");
  if (::fchmod(fd, mode) != 0)
    return fail("chmod");
  if (::fsync(fd) != 0)
    return fail("sync");
  if (::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return failed("write " + tmp, err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return failed("rename " + tmp + " to " + path, err);
  }
  return {};
}

bool is_directory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

std::string make_directory(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) != 0) {
    if (errno == EEXIST && is_directory(path))
      return {};
    return failed("mkdir " + path, errno);
  }
  // mkdir applies the umask; the mode is what we promise.
  if (::chmod(path.c_str(), mode) != 0)
    return failed("chmod " + path, errno);
  if (::geteuid() == 0 && ::chown(path.c_str(), 0, 0) != 0)
    return failed("chown root:root " + path, errno);
  return {};
}

} // namespace banger::init

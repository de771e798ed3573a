#include "guest/agent/untar.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace banger::agent {

namespace {

constexpr std::size_t block = 512;
constexpr std::size_t max_pax = 1u << 20;
constexpr std::uint64_t progress_every = 1u << 20;

[[noreturn]] void fail(const std::string& what) {
  throw untar_error(what);
}

[[noreturn]] void fail_errno(const std::string& what, int err) {
  fail(what + ": " + std::strerror(err));
}

class fd_guard {
public:
  explicit fd_guard(int fd) : fd_(fd) {}
  ~fd_guard() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  int get() const { return fd_; }

private:
  int fd_;
};

/// The input, with exact reads and a running count.
class reader {
public:
  reader(const read_fn& in, const progress_fn& progress)
      : in_(in), progress_(progress) {}

  /// Fills `size` bytes; false if the input ended before the first byte.
  bool read_exact(char* buf, std::size_t size, const char* what) {
    std::size_t got = 0;
    while (got < size) {
      auto n = in_(buf + got, size - got);
      if (n == 0) {
        if (got == 0)
          return false;
        fail(std::string("the stream ended in the middle of ") + what);
      }
      got += n;
      count(n);
    }
    return true;
  }

  void drain() {
    char buf[65536];
    while (auto n = in_(buf, sizeof buf))
      count(n);
  }

  std::uint64_t consumed() const { return consumed_; }

private:
  void count(std::size_t n) {
    consumed_ += n;
    if (progress_ && consumed_ - reported_ >= progress_every) {
      reported_ = consumed_;
      progress_(consumed_);
    }
  }

  const read_fn& in_;
  const progress_fn& progress_;
  std::uint64_t consumed_ = 0;
  std::uint64_t reported_ = 0;
};

std::string field(const char* p, std::size_t n) {
  return std::string(p, std::find(p, p + n, '\0'));
}

std::uint64_t number(const char* p, std::size_t n, const std::string& what) {
  auto c = static_cast<unsigned char>(p[0]);
  if (c & 0x80) { // base-256 (GNU), positive only
    if (c != 0x80)
      fail("a negative or oversized " + what + " in a tar header");
    std::uint64_t v = 0;
    for (std::size_t i = 1; i < n; ++i)
      v = (v << 8) | static_cast<unsigned char>(p[i]);
    return v;
  }
  std::uint64_t v = 0;
  std::size_t i = 0;
  while (i < n && p[i] == ' ')
    ++i;
  for (; i < n && p[i] >= '0' && p[i] <= '7'; ++i)
    v = v * 8 + static_cast<std::uint64_t>(p[i] - '0');
  for (; i < n; ++i)
    if (p[i] != ' ' && p[i] != '\0')
      fail("a malformed " + what + " in a tar header");
  return v;
}

bool all_zero(const char* p) {
  return std::all_of(p, p + block, [](char c) { return c == '\0'; });
}

void check_sum(const char* h) {
  auto want = number(h + 148, 8, "checksum");
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < block; ++i)
    sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(h[i]);
  if (sum != want)
    fail("a tar header with a bad checksum (the stream is not a tar archive "
         "or is corrupt)");
}

std::uint64_t padded(std::uint64_t n) {
  return (n + block - 1) / block * block;
}

/// Reads `n` bytes of an extended header's payload.
std::string read_payload(reader& r, std::uint64_t size, const char* what) {
  if (size > max_pax)
    fail(std::string("a ") + what + " larger than 1 MiB");
  std::string data(padded(size), '\0');
  r.read_exact(data.data(), data.size(), what);
  data.resize(size);
  return data;
}

struct pax_values {
  std::string path, linkpath;
  bool has_path = false, has_linkpath = false, has_size = false;
  std::uint64_t size = 0;
};

/// Parses "LEN key=value\n" records.
void parse_pax(const std::string& data, pax_values& out) {
  std::size_t pos = 0;
  while (pos < data.size()) {
    auto sp = data.find(' ', pos);
    if (sp == std::string::npos)
      fail("a malformed pax header record");
    std::uint64_t len = 0;
    for (auto i = pos; i < sp; ++i) {
      if (data[i] < '0' || data[i] > '9')
        fail("a malformed pax header record length");
      len = len * 10 + static_cast<std::uint64_t>(data[i] - '0');
    }
    if (len <= sp - pos + 1 || pos + len > data.size()
        || data[pos + len - 1] != '\n')
      fail("a malformed pax header record");
    auto rec = data.substr(sp + 1, pos + len - 1 - (sp + 1));
    auto eq = rec.find('=');
    if (eq == std::string::npos)
      fail("a malformed pax header record");
    auto key = rec.substr(0, eq);
    auto value = rec.substr(eq + 1);
    if (key == "path") {
      out.path = value;
      out.has_path = true;
    } else if (key == "linkpath") {
      out.linkpath = value;
      out.has_linkpath = true;
    } else if (key == "size") {
      out.size = number(value.data(), value.size(), "pax size");
      out.has_size = true;
    }
    pos += len;
  }
}

/// Opens (creating as needed) the directories above the last component;
/// never through a symlink. Returns the parent's fd.
int open_parent(int root_fd, const std::vector<std::string>& parts,
                const std::string& path) {
  int dir = ::dup(root_fd);
  if (dir < 0)
    fail_errno("dup", errno);
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    fd_guard cur(dir);
    if (::mkdirat(cur.get(), parts[i].c_str(), 0755) != 0 && errno != EEXIST)
      fail_errno("cannot create the directory of " + path, errno);
    dir = ::openat(cur.get(), parts[i].c_str(),
                   O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir < 0) {
      if (errno == ELOOP || errno == ENOTDIR)
        fail(path
             + ": a parent directory is a symlink or a file; refusing to "
               "write through it");
      fail_errno("cannot open the directory of " + path, errno);
    }
  }
  return dir;
}

/// Removes what sits at `name` unless it is a directory.
void clear_slot(int dir, const std::string& name) {
  struct stat st {};
  if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0
      && !S_ISDIR(st.st_mode))
    ::unlinkat(dir, name.c_str(), 0);
}

void write_all(int fd, const char* p, std::size_t n, const std::string& path) {
  while (n > 0) {
    auto w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      fail_errno("cannot write " + path, errno);
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

} // namespace

std::vector<std::string> safe_components(const std::string& path) {
  if (path.find('\0') != std::string::npos)
    fail("an entry name with a NUL byte");
  if (path.empty())
    fail("an entry with an empty name");
  if (path[0] == '/')
    fail(path + ": an absolute path; refusing it");
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == std::string::npos)
      end = path.size();
    auto part = path.substr(start, end - start);
    if (part == "..")
      fail(path + ": a path with '..'; refusing it");
    if (!part.empty() && part != ".")
      parts.push_back(part);
    start = end + 1;
  }
  if (parts.empty())
    fail(path + ": names no file");
  return parts;
}

untar_stats untar(int root_fd, const read_fn& in, const progress_fn& progress) {
  reader r(in, progress);
  untar_stats stats;
  pax_values pax;
  std::string gnu_name, gnu_link;
  char h[block];
  for (;;) {
    if (!r.read_exact(h, block, "a tar header"))
      fail("the stream ended without the end-of-archive marker (the host "
           "stopped sending?)");
    if (all_zero(h)) {
      // End of archive: a second zero block may follow; then drain.
      r.drain();
      break;
    }
    check_sum(h);
    char type = h[156];
    auto size = number(h + 124, 12, "size");
    if (type == 'x' || type == 'g') {
      auto data = read_payload(r, size, "pax header");
      if (type == 'x')
        parse_pax(data, pax);
      continue;
    }
    if (type == 'L' || type == 'K') {
      auto data = read_payload(r, size, "long name");
      auto nul = data.find('\0');
      (type == 'L' ? gnu_name : gnu_link) = data.substr(0, nul);
      continue;
    }
    std::string path = field(h, 100);
    if (std::memcmp(h + 257, "ustar", 5) == 0) {
      auto prefix = field(h + 345, 155);
      if (!prefix.empty())
        path = prefix + "/" + path;
    }
    std::string link = field(h + 157, 100);
    if (!gnu_name.empty())
      path = gnu_name;
    if (!gnu_link.empty())
      link = gnu_link;
    if (pax.has_path)
      path = pax.path;
    if (pax.has_linkpath)
      link = pax.linkpath;
    if (pax.has_size)
      size = pax.size;
    pax = {};
    gnu_name.clear();
    gnu_link.clear();
    auto mode = static_cast<mode_t>(number(h + 100, 8, "mode") & 07777);

    auto parts = safe_components(path);
    fd_guard parent(open_parent(root_fd, parts, path));
    const auto& name = parts.back();
    switch (type) {
    case '0':
    case '\0':
    case '7': {
      clear_slot(parent.get(), name);
      fd_guard f(::openat(parent.get(), name.c_str(),
                          O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                          0600));
      if (f.get() < 0)
        fail_errno("cannot create " + path, errno);
      char buf[65536];
      std::uint64_t left = size;
      while (left > 0) {
        auto n =
            static_cast<std::size_t>(std::min<std::uint64_t>(left, sizeof buf));
        if (!r.read_exact(buf, n, path.c_str()))
          fail("the stream ended in the middle of " + path);
        write_all(f.get(), buf, n, path);
        left -= n;
      }
      if (auto pad = padded(size) - size; pad > 0)
        r.read_exact(buf, static_cast<std::size_t>(pad), path.c_str());
      ::fchmod(f.get(), mode);
      ++stats.files;
      stats.bytes += size;
      break;
    }
    case '5': {
      if (::mkdirat(parent.get(), name.c_str(), 0755) != 0) {
        if (errno != EEXIST)
          fail_errno("cannot create " + path, errno);
        struct stat st {};
        if (::fstatat(parent.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0
            || !S_ISDIR(st.st_mode))
          fail(path + ": exists and is not a directory");
      }
      ::fchmodat(parent.get(), name.c_str(), mode | 0700, 0);
      ++stats.dirs;
      break;
    }
    case '2': {
      if (link.empty())
        fail(path + ": a symlink with an empty target");
      clear_slot(parent.get(), name);
      if (::symlinkat(link.c_str(), parent.get(), name.c_str()) != 0)
        fail_errno("cannot create the symlink " + path, errno);
      ++stats.symlinks;
      break;
    }
    case '1':
      fail(path + ": a hard link; workspace streams never carry them");
    default:
      fail(path + ": an unsupported tar entry type '" + std::string(1, type)
           + "' (only files, directories and symlinks)");
    }
    if (type != '0' && type != '\0' && type != '7' && size > 0)
      fail(path + ": a non-file entry with data");
  }
  stats.consumed = r.consumed();
  return stats;
}

} // namespace banger::agent

#pragma once
// A scratch area for the fuzz targets whose code under test writes files
// (layer staging, bundle unpacking, the guest's workspace untar). Per
// process: a fresh directory P holding
//   P/trap/canary   must stay exactly as created: a symlink or ".." that
//                   the code followed would land here (or beside it);
//   P/work/         the only place the code may write; emptied after every
//                   input, inspecting each entry on the way.
// After every input nothing but trap/ and work/ may exist in P. The walk is
// iterative with one open descriptor, whatever the depth of the tree.

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace banger::fuzz {

[[noreturn]] inline void fs_bug(const std::string& what) {
  std::fprintf(stderr, "fuzz: %s\n", what.c_str());
  std::abort();
}

/// Called for every entry before it is removed: its lstat and its path
/// relative to the top.
using inspect_fn = std::function<void(const struct stat&, const std::string&)>;

/// Removes everything inside the directory open as `top` (not `top` itself),
/// handing each entry to `inspect` first. Never follows a symlink.
inline void empty_dir(int top, const inspect_fn& inspect) {
  int cur = ::dup(top);
  std::vector<std::string> names; // the path from top to cur
  auto rel = [&](const char* name) {
    std::string p;
    for (auto& n : names)
      p += n + "/";
    return p + name;
  };
  while (cur >= 0) {
    DIR* d = ::fdopendir(::dup(cur));
    if (d == nullptr)
      fs_bug(std::string("cannot read a scratch directory: ")
             + std::strerror(errno));
    std::string subdir;
    while (auto* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..")
        continue;
      struct stat st {};
      if (::fstatat(cur, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
        fs_bug("cannot stat " + rel(name.c_str()) + ": "
               + std::strerror(errno));
      if (S_ISDIR(st.st_mode)) {
        if (subdir.empty())
          subdir = name;
        continue;
      }
      if (inspect)
        inspect(st, rel(name.c_str()));
      if (::unlinkat(cur, name.c_str(), 0) != 0)
        fs_bug("cannot remove " + rel(name.c_str()) + ": "
               + std::strerror(errno));
    }
    ::closedir(d);
    if (!subdir.empty()) {
      struct stat st {};
      ::fstatat(cur, subdir.c_str(), &st, AT_SYMLINK_NOFOLLOW);
      if (inspect)
        inspect(st, rel(subdir.c_str()));
      // A mode of 0 must not stop the cleanup when not running as root.
      ::fchmodat(cur, subdir.c_str(), 0700, 0);
      int next = ::openat(cur, subdir.c_str(),
                          O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (next < 0)
        fs_bug("cannot open " + rel(subdir.c_str()) + ": "
               + std::strerror(errno));
      ::close(cur);
      cur = next;
      names.push_back(subdir);
      continue;
    }
    // cur is empty now: remove it from its parent and go back up.
    if (names.empty()) {
      ::close(cur);
      break;
    }
    int parent = ::openat(cur, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ::close(cur);
    if (parent < 0
        || ::unlinkat(parent, names.back().c_str(), AT_REMOVEDIR) != 0)
      fs_bug("cannot remove the scratch directory " + rel("") + ": "
             + std::strerror(errno));
    names.pop_back();
    cur = parent;
  }
}

class scratch {
public:
  scratch() {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp")
        + "/banger-fuzz-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr)
      fs_bug("cannot create a scratch directory: "
             + std::string(std::strerror(errno)));
    dir_ = tmpl;
    if (::mkdir((dir_ + "/trap").c_str(), 0700) != 0)
      fs_bug("cannot create the trap directory");
    auto* f = std::fopen((dir_ + "/trap/canary").c_str(), "w");
    if (f == nullptr || std::fputs(canary_text, f) < 0 || std::fclose(f) != 0)
      fs_bug("cannot write the canary");
    top_ = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (top_ < 0)
      fs_bug("cannot open " + dir_);
  }
  ~scratch() {
    empty_dir(top_, {});
    ::close(top_);
    ::rmdir(dir_.c_str());
  }
  scratch(const scratch&) = delete;
  scratch& operator=(const scratch&) = delete;

  /// P.
  const std::string& dir() const { return dir_; }
  /// P/work, created afresh (empty) for the next input.
  std::string fresh_work() {
    auto w = dir_ + "/work";
    if (::mkdir(w.c_str(), 0700) != 0)
      fs_bug("cannot create " + w + ": " + std::strerror(errno)
             + " (left over from the last input?)");
    return w;
  }
  /// Checks the trap and P's listing, then empties and removes P/work,
  /// passing every entry under it to `inspect`. Only the caller's own input
  /// files (`allowed`) may be in P beside trap/ and work/.
  void finish(const inspect_fn& inspect,
              const std::vector<std::string>& allowed = {}) {
    check_trap();
    DIR* d = ::fdopendir(::dup(top_));
    while (auto* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == ".." || name == "trap" || name == "work")
        continue;
      bool ok = false;
      for (auto& a : allowed)
        ok = ok || a == name;
      if (!ok)
        fs_bug("something was written outside the work directory: " + dir_ + "/"
               + name);
    }
    ::closedir(d);
    int w =
        ::openat(top_, "work", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (w >= 0) {
      empty_dir(w, inspect);
      ::close(w);
      if (::unlinkat(top_, "work", AT_REMOVEDIR) != 0)
        fs_bug("cannot remove " + dir_ + "/work: " + std::strerror(errno));
    } else {
      struct stat st {};
      if (::fstatat(top_, "work", &st, AT_SYMLINK_NOFOLLOW) == 0)
        fs_bug(dir_ + "/work was replaced by a non-directory");
    }
  }

  /// Removes an input file written by write_input.
  void remove_input(const std::string& name) {
    ::unlinkat(top_, name.c_str(), 0);
  }

private:
  static constexpr const char* canary_text = "banger fuzz canary\n";

  void check_trap() const {
    DIR* d = ::opendir((dir_ + "/trap").c_str());
    if (d == nullptr)
      fs_bug("the trap directory " + dir_ + "/trap is gone or not a directory");
    int entries = 0;
    while (auto* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..")
        continue;
      ++entries;
      if (name != "canary")
        fs_bug("something was written into the trap: " + dir_ + "/trap/"
               + name);
    }
    ::closedir(d);
    struct stat st {};
    if (entries != 1 || ::lstat((dir_ + "/trap/canary").c_str(), &st) != 0
        || !S_ISREG(st.st_mode)
        || st.st_size != static_cast<off_t>(std::strlen(canary_text)))
      fs_bug("the trap's canary was changed or removed");
    char buf[64] = {};
    auto* f = std::fopen((dir_ + "/trap/canary").c_str(), "r");
    if (f == nullptr || std::fread(buf, 1, sizeof buf - 1, f) == 0
        || std::fclose(f) != 0 || std::strcmp(buf, canary_text) != 0)
      fs_bug("the trap's canary was overwritten");
  }

  std::string dir_;
  int top_ = -1;
};

/// The input as a file in P (for code that reads a path).
inline std::string write_input(const scratch& s, const char* name,
                               const std::uint8_t* data, std::size_t size) {
  auto path = s.dir() + "/" + name;
  auto* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr || (size > 0 && std::fwrite(data, 1, size, f) != size)
      || std::fclose(f) != 0)
    fs_bug("cannot write the input to " + path);
  return path;
}

} // namespace banger::fuzz

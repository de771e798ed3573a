#include "services/host_tool.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "services/error.hpp"
#include "services/unique_fd.hpp"

namespace banger {

namespace {

struct lent_file {
  unique_fd fd;
  struct stat st {};
  bool lent = false;
};

} // namespace

caf::expected<run_result> run_guest_file_tool(const guest_file_tool& t) {
  if (t.argv.empty())
    return make_error(ec::invalid_argument,
                      "cannot run a host tool: the argument list is empty "
                      "(this is a bug in banger)");
  const bool root = ::geteuid() == 0;
  std::vector<lent_file> files(t.files.size());
  std::uint64_t largest = 0;
  for (std::size_t i = 0; i < t.files.size(); ++i) {
    auto& f = files[i];
    const auto& path = t.files[i].path;
    f.fd.reset(::open(path.c_str(), (t.files[i].writable ? O_RDWR : O_RDONLY)
                                        | O_NOFOLLOW | O_CLOEXEC));
    if (!f.fd.valid())
      return make_error(errno == ELOOP ? ec::invalid_argument : ec::unavailable,
                        fmt::format("cannot open {} for {}: {}{}", path,
                                    t.argv.front(), std::strerror(errno),
                                    errno == ELOOP ? " (it is a symlink; "
                                                     "banger refuses it)"
                                                   : ""));
    if (::fstat(f.fd.get(), &f.st) != 0 || !S_ISREG(f.st.st_mode))
      return make_error(ec::invalid_argument,
                        fmt::format("{} is not a regular file; banger runs "
                                    "{} only on disk image files",
                                    path, t.argv.front()));
    if (t.files[i].writable)
      largest = std::max(largest, static_cast<std::uint64_t>(f.st.st_size));
  }
  run_options opts;
  opts.timeout = t.timeout;
  opts.limit_cpu_s = static_cast<std::uint64_t>(t.timeout.count());
  opts.limit_as_bytes = t.max_memory_bytes;
  opts.limit_fsize_bytes = t.max_file_bytes != 0
                               ? t.max_file_bytes
                               : std::max<std::uint64_t>(largest, 1);
  auto argv = t.argv;
  // Given back even when the run fails.
  auto give_back = [&] {
    for (auto& f : files)
      if (f.lent) {
        [[maybe_unused]] int rc =
            ::fchown(f.fd.get(), f.st.st_uid, f.st.st_gid);
        rc = ::fchmod(f.fd.get(), f.st.st_mode & 07777);
        f.lent = false;
      }
  };
  if (root) {
    opts.uid = untrusted_tool_id;
    opts.gid = untrusted_tool_id;
  }
  for (std::size_t i = 0; i < files.size(); ++i) {
    auto& f = files[i];
    int child_fd = 3 + static_cast<int>(i);
    if (root && t.files[i].writable) {
      // The file is the tool's for the run and ours again after it.
      if (::fchown(f.fd.get(), untrusted_tool_id, untrusted_tool_id) != 0
          || ::fchmod(f.fd.get(), 0600) != 0) {
        auto err = errno;
        give_back();
        return make_error(ec::unavailable,
                          fmt::format("cannot lend {} to {}: {}",
                                      t.files[i].path, t.argv.front(),
                                      std::strerror(err)));
      }
      f.lent = true;
    }
    opts.pass_fds.emplace_back(f.fd.get(), child_fd);
    auto placeholder = "{" + std::to_string(i) + "}";
    auto name = "/proc/self/fd/" + std::to_string(child_fd);
    for (auto& a : argv)
      for (auto at = a.find(placeholder); at != std::string::npos;
           at = a.find(placeholder, at + name.size()))
        a.replace(at, placeholder.size(), name);
  }
  auto r = run(argv, opts);
  give_back();
  return r;
}

} // namespace banger

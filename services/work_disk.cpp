#include "services/work_disk.hpp"

#include <cerrno>
#include <cstring>
#include <algorithm>
#include <filesystem>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "services/error.hpp"
#include "services/file_magic.hpp"
#include "services/host_tool.hpp"
#include "services/process.hpp"
#include "services/units.hpp"

namespace banger {

namespace {

using namespace std::chrono_literals;

/// `program` failed on `what` because of `why` (its output, trailing
/// blanks dropped).
caf::error tool_failed(const std::string& what, const std::string& program,
                       std::string why) {
  while (!why.empty() && (why.back() == '\n' || why.back() == ' '))
    why.pop_back();
  return make_error(ec::unavailable,
                    fmt::format("{}: {} failed: {}; check free space on the disk "
                                "holding it",
                                what, program, why));
}

/// Runs a program on our own files (cp, mke2fs); its failure becomes
/// ec::unavailable naming `what`.
caf::expected<void> tool(std::vector<std::string> argv, const std::string& what) {
  run_options opts;
  opts.timeout = 300s;
  auto r = run(argv, opts);
  if (!r)
    return r.error();
  if (r->ok())
    return {};
  return tool_failed(what, argv.front(),
                     r->timed_out ? std::string{"it did not finish within 300 s"}
                                  : r->err + r->out);
}

/// e2fsck or resize2fs on `disk`, a filesystem a guest wrote (or an image's
/// seed): never as root, limited, the file reached through a descriptor
/// (services/host_tool.hpp). `ok_codes` are the exits that count as success.
caf::expected<void> fs_tool(std::vector<std::string> argv, const std::string& disk,
                            const std::string& what,
                            std::initializer_list<int> ok_codes = {0}) {
  guest_file_tool t;
  for (auto& a : argv)
    if (a == disk)
      a = "{0}";
  t.argv = std::move(argv);
  t.files = {{disk, true}};
  auto r = run_guest_file_tool(t);
  if (!r)
    return r.error();
  bool ok = !r->timed_out && r->signal == 0
            && std::find(ok_codes.begin(), ok_codes.end(), r->exit_code) != ok_codes.end();
  if (ok)
    return {};
  return tool_failed(
      what, t.argv.front(),
      r->timed_out ? fmt::format("it did not finish within {} s", t.timeout.count())
      : r->signal != 0 ? fmt::format("it was killed by signal {} (a resource "
                                     "limit: the filesystem may be hostile)",
                                     r->signal)
                       : r->err + r->out);
}

std::uint64_t file_size(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

/// Sets `path`'s length to `size_bytes` and lets resize2fs fill it.
caf::expected<void> grow_file(const std::string& path, std::uint64_t size_bytes) {
  if (::truncate(path.c_str(), static_cast<off_t>(size_bytes)) != 0)
    return make_error(ec::unavailable,
                      fmt::format("cannot grow {} to {}: {}", path,
                                  format_bytes(size_bytes), std::strerror(errno)));
  return fs_tool({"resize2fs", "-f", path}, path, "growing " + path);
}

/// Runs make(tmp) for `out`'s sibling <out>.tmp and renames it to `out`
/// when it succeeded; a failure leaves neither file.
template <class F>
caf::expected<void> through_tmp(const std::string& out, F make) {
  auto tmp = out + ".tmp";
  ::unlink(tmp.c_str());
  auto made = make(tmp);
  if (made && ::rename(tmp.c_str(), out.c_str()) != 0)
    made = make_error(ec::unavailable, fmt::format("cannot rename {} to {}: {}", tmp, out,
                                                   std::strerror(errno)));
  if (!made)
    ::unlink(tmp.c_str());
  return made;
}

/// An empty, small ext4 holding only the "copy /root on first boot" marker.
caf::expected<void> make_unseeded(const std::string& out) {
  auto dir = out + ".d";
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  if (::mkdir(dir.c_str(), 0700) != 0)
    return make_error(ec::unavailable, fmt::format("cannot create {}: {}", dir,
                                                   std::strerror(errno)));
  auto marker = dir + "/" + work_disk_unseeded_marker;
  int fd = ::open(marker.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0)
    ::close(fd);
  auto made = fd < 0 ? make_error(ec::unavailable, fmt::format("cannot create {}: {}",
                                                             marker, std::strerror(errno)))
                     : tool({"mke2fs", "-q", "-t", "ext4", "-T", "default", "-m", "0",
                             "-L", "banger-work", "-E", "root_owner=0:0", "-d", dir, "-F",
                             out, std::to_string(min_work_disk_bytes >> 10) + "k"},
                            "making the work disk " + out);
  std::filesystem::remove_all(dir, ignored);
  return made;
}

} // namespace

std::string check_disk_size(std::uint64_t bytes) {
  if (bytes < min_work_disk_bytes || bytes > max_work_disk_bytes)
    return fmt::format("disk size {} is out of range: give between {} and {} "
                       "(e.g. --disk-size 8G)",
                       format_bytes(bytes), format_bytes(min_work_disk_bytes),
                       format_bytes(max_work_disk_bytes));
  return {};
}

caf::expected<void> create_work_disk(const std::string& seed, const std::string& out,
                                     std::uint64_t size_bytes) {
  if (auto why = check_disk_size(size_bytes); !why.empty())
    return make_error(ec::invalid_argument, why);
  if (::access(out.c_str(), F_OK) == 0)
    return make_error(ec::already_exists,
                      "cannot create work disk " + out + ": the file exists already");
  if (!seed.empty()) {
    if (!is_ext_fs(seed))
      return make_error(ec::not_found,
                        "the image's work seed " + seed
                          + " is missing or not an ext4 file; pull or import the image again");
    auto seed_bytes = file_size(seed);
    if (seed_bytes > size_bytes)
      return make_error(ec::invalid_argument,
                        fmt::format("disk size {} is smaller than the image's /root "
                                    "(its work seed is {}); give --disk-size {}M or more",
                                    format_bytes(size_bytes), format_bytes(seed_bytes),
                                    (seed_bytes + (1 << 20) - 1) >> 20));
  }
  return through_tmp(out, [&](const std::string& tmp) -> caf::expected<void> {
    if (seed.empty()) {
      if (auto r = make_unseeded(tmp); !r)
        return r;
    } else if (auto r = tool({"cp", "--sparse=always", "--reflink=auto", seed, tmp},
                             "copying the work seed " + seed);
               !r) {
      return r;
    }
    if (file_size(tmp) < size_bytes)
      return grow_file(tmp, size_bytes);
    return {};
  });
}

caf::expected<void> grow_work_disk(const std::string& disk, std::uint64_t size_bytes) {
  if (auto why = check_disk_size(size_bytes); !why.empty())
    return make_error(ec::invalid_argument, why);
  auto now = file_size(disk);
  if (!is_ext_fs(disk))
    return make_error(ec::not_found, "the work disk " + disk + " is missing or not ext4");
  if (size_bytes < now)
    return make_error(ec::invalid_argument,
                      fmt::format("disk size {} is smaller than the VM's disk ({}); "
                                  "disks only grow, shrinking could lose files",
                                  format_bytes(size_bytes), format_bytes(now)));
  if (size_bytes == now)
    return {};
  if (auto r = fs_tool({"e2fsck", "-f", "-p", disk}, disk, "checking " + disk); !r)
    return r;
  return grow_file(disk, size_bytes);
}

caf::expected<void> seed_from_work_disk(const std::string& disk, const std::string& out) {
  if (!is_ext_fs(disk))
    return make_error(ec::not_found, "the work disk " + disk + " is missing or not ext4");
  return through_tmp(out, [&](const std::string& tmp) -> caf::expected<void> {
    if (auto r = tool({"cp", "--sparse=always", "--reflink=auto", disk, tmp},
                      "copying the work disk " + disk);
        !r)
      return r;
    // e2fsck exits 1 when it fixed something (an unclean shutdown): fine.
    if (auto r = fs_tool({"e2fsck", "-f", "-y", tmp}, tmp,
                         "the work disk " + disk + " has errors e2fsck could not fix",
                         {0, 1});
        !r)
      return r;
    if (auto r = fs_tool({"resize2fs", "-M", tmp}, tmp, "shrinking " + tmp); !r)
      return r;
    // -M leaves no free block: a seed gets a little room back so that the
    // first boot can write its logs and keys before any growth.
    auto room = std::max<std::uint64_t>(min_work_disk_bytes, file_size(tmp) + (16ull << 20));
    return grow_file(tmp, room);
  });
}

} // namespace banger

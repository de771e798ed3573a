// unpack_bundle: a bundle tarball into a directory, refusing anything that is
// not part of the bundle layout. Every path is created relative to a
// directory descriptor with O_NOFOLLOW, so no entry is ever written through
// a symlink, whatever the archive holds.

#include "services/bundle.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>
#include <vector>

#include <archive.h>
#include <archive_entry.h>
#include <fmt/format.h>

#include "services/bundle_layout.hpp"
#include "services/error.hpp"
#include "services/staging.hpp"
#include "services/unique_fd.hpp"

namespace banger {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t block = 4096;

// libarchive may fail without a message (archive_error_string is then
// NULL, which must never reach a std::string).
std::string archive_error_text(struct archive* ar) {
  const char* why = archive_error_string(ar);
  return why != nullptr ? why : "unknown error (libarchive gave no reason)";
}

std::string space_hint(int err) {
  return err == ENOSPC || err == EDQUOT ? "; free some space there and retry"
                                        : "";
}

bool all_zero(const char* p, std::size_t n) {
  static const char zeros[block] = {};
  return n <= block && std::memcmp(p, zeros, n) == 0;
}

class unpacker {
public:
  unpacker(const std::string& archive, const std::string& dest,
           std::string_view kind, std::atomic<bool>* cancel,
           const data_limits& limits)
      : archive_(archive), dest_(dest), kind_(kind), cancel_(cancel),
        limits_(limits) {}

  caf::expected<void> run();

private:
  caf::error refuse(const std::string& entry, const std::string& why) const {
    // A name may be 130 KB long: the message shows its start.
    auto shown = entry.size() <= 200 ? entry : entry.substr(0, 200) + "...";
    return make_error(ec::invalid_argument,
                      fmt::format("bundle {}: entry '{}' {}; the bundle is "
                                  "unsafe or corrupt, banger refuses it",
                                  archive_, shown, why));
  }
  caf::error no_room(const std::string& entry) const {
    return make_error(
        ec::unavailable,
        fmt::format("unpacking bundle {}: entry '{}' would fill {} beyond its "
                    "free space less {} bytes; free some space there and retry",
                    archive_, entry, dest_, limits_.free_margin));
  }
  caf::error write_error(const std::string& path, int err) const {
    return make_error(ec::unavailable,
                      fmt::format("unpacking bundle {}: cannot write {}: {}{}",
                                  archive_, dest_ + "/" + path,
                                  std::strerror(err), space_hint(err)));
  }
  bool cancelled() const { return cancel_ != nullptr && cancel_->load(); }

  caf::expected<unique_fd> parent_dir(const std::string& entry,
                                      const std::vector<std::string>& comps);
  caf::expected<void> entry(struct archive_entry* e);
  caf::expected<void> write_file(int fd, const std::string& path,
                                 std::int64_t size);

  std::string archive_;
  std::string dest_;
  std::string kind_;
  std::atomic<bool>* cancel_;
  const data_limits& limits_;
  std::uint64_t entries_ = 0;
  // Declared file bytes (holes included) and bytes really written, against
  // limits_.max_bytes and the free space measured before the first write.
  std::uint64_t declared_ = 0;
  std::uint64_t written_ = 0;
  std::uint64_t space_ = 0;
  struct archive* ar_ = nullptr;
  unique_fd root_;
};

// Opens (creating as needed) the directory holding comps.back().
caf::expected<unique_fd>
unpacker::parent_dir(const std::string& entry,
                     const std::vector<std::string>& comps) {
  unique_fd cur{::dup(root_.get())};
  for (std::size_t i = 0; i + 1 < comps.size(); ++i) {
    if (::mkdirat(cur.get(), comps[i].c_str(), 0755) != 0 && errno != EEXIST)
      return write_error(comps[i], errno);
    unique_fd next{::openat(cur.get(), comps[i].c_str(),
                            O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)};
    if (!next.valid())
      return refuse(entry, "lies under something that is not a directory");
    cur = std::move(next);
  }
  return cur;
}

caf::expected<void> unpacker::write_file(int fd, const std::string& path,
                                         std::int64_t size) {
  const void* buf = nullptr;
  std::size_t len = 0;
  la_int64_t off = 0;
  for (;;) {
    auto r = archive_read_data_block(ar_, &buf, &len, &off);
    if (r == ARCHIVE_EOF)
      break;
    if (r < ARCHIVE_WARN)
      return refuse(path, std::string{"cannot be read: "}
                              + archive_error_text(ar_));
    if (cancelled())
      return make_error(ec::cancelled,
                        "unpacking bundle " + archive_ + " was cancelled");
    // Zero blocks stay holes: the file is new, so unwritten ranges read as
    // zeros, and a mostly empty rootfs.ext4 does not take its full size.
    auto p = static_cast<const char*>(buf);
    auto end = off + static_cast<la_int64_t>(len);
    while (off < end) {
      auto next = std::min<la_int64_t>(end, (off / block + 1) * block);
      auto n = static_cast<std::size_t>(next - off);
      if (all_zero(p, n)) {
        p += n;
        off = next;
        continue;
      }
      if (written_ + n > space_)
        return no_room(path);
      written_ += n;
      auto w = ::pwrite(fd, p, n, off);
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0)
        return write_error(path, errno);
      p += w;
      off += w;
    }
  }
  // A trailing hole (sparse map or zero blocks) still counts in the size.
  if (size > 0 && ::ftruncate(fd, size) != 0)
    return write_error(path, errno);
  return {};
}

caf::expected<void> unpacker::entry(struct archive_entry* e) {
  const char* raw_c = archive_entry_pathname(e);
  std::string raw = raw_c != nullptr ? raw_c : "";
  if (++entries_ > limits_.max_entries)
    return make_error(ec::invalid_argument,
                      fmt::format("bundle {} has more than {} entries; banger "
                                  "refuses it (a broken or hostile bundle)",
                                  archive_, limits_.max_entries));
  if (raw.size() > limits_.max_path)
    return refuse(raw, fmt::format("has a name of {} bytes, longer than the "
                                   "limit of {}",
                                   raw.size(), limits_.max_path));
  auto split = split_bundle_path(raw);
  if (!split.error.empty())
    return refuse(raw, split.error);
  const auto* comps = &split.comps;
  if (comps->size() > limits_.max_depth)
    return refuse(raw, fmt::format("lies deeper than {} directories",
                                   limits_.max_depth));
  if (const char* t = archive_entry_symlink(e);
      t != nullptr && std::strlen(t) > limits_.max_path)
    return refuse(raw, fmt::format("is a symlink to a name longer than {} "
                                   "bytes",
                                   limits_.max_path));
  auto type = archive_entry_filetype(e);
  if (comps->empty()) {
    if (type == AE_IFDIR)
      return {}; // "./", the root itself
    return refuse(raw, "has an empty name");
  }
  if (archive_entry_hardlink(e) != nullptr)
    return refuse(raw, "is a hardlink; bundles hold only files, directories "
                       "and symlinks inside modules/");
  auto placement =
      check_bundle_entry(kind_, *comps, type,
                         type == AE_IFLNK ? archive_entry_symlink(e) : nullptr);
  if (!placement.empty())
    return refuse(raw, placement);
  auto parent = parent_dir(raw, *comps);
  if (!parent)
    return parent.error();
  const auto& name = comps->back();
  auto rel = join_bundle_path(*comps);
  if (type == AE_IFDIR) {
    if (::mkdirat(parent->get(), name.c_str(), 0755) == 0)
      return {};
    struct stat st {};
    if (errno == EEXIST
        && ::fstatat(parent->get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0
        && S_ISDIR(st.st_mode))
      return {};
    if (errno == EEXIST)
      return refuse(raw, "appears twice");
    return write_error(rel, errno);
  }
  if (type == AE_IFLNK) {
    if (::symlinkat(archive_entry_symlink(e), parent->get(), name.c_str()) == 0)
      return {};
    if (errno == EEXIST)
      return refuse(raw, "appears twice");
    return write_error(rel, errno);
  }
  unique_fd fd{::openat(parent->get(), name.c_str(),
                        O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                        0644)};
  if (!fd.valid())
    return errno == EEXIST ? refuse(raw, "appears twice")
                           : write_error(rel, errno);
  auto size = archive_entry_size_is_set(e) != 0 ? archive_entry_size(e) : 0;
  declared_ += static_cast<std::uint64_t>(std::max<std::int64_t>(size, 0));
  if (declared_ > limits_.max_bytes)
    return refuse(raw, fmt::format("brings the bundle past {} bytes of "
                                   "content; banger refuses it (a "
                                   "decompression bomb or a broken bundle)",
                                   limits_.max_bytes));
  if (auto ok = write_file(fd.get(), rel, size); !ok)
    return ok;
  if (::close(fd.release()) != 0)
    return write_error(rel, errno);
  return {};
}

caf::expected<void> unpacker::run() {
  std::unique_ptr<struct archive, decltype(&archive_read_free)> ar{
      archive_read_new(), &archive_read_free};
  ar_ = ar.get();
  archive_read_support_filter_zstd(ar_);
  archive_read_support_filter_gzip(ar_);
  archive_read_support_format_tar(ar_);
  if (archive_read_open_filename(ar_, archive_.c_str(), 1 << 20) != ARCHIVE_OK)
    return make_error(ec::invalid_argument,
                      fmt::format("cannot read bundle {}: {} (a bundle is a "
                                  "tar, zstd- or gzip-compressed)",
                                  archive_, archive_error_text(ar_)));
  root_.reset(::open(dest_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root_.valid())
    return write_error(".", errno);
  auto avail = free_bytes(dest_);
  if (!avail)
    return avail.error();
  space_ = *avail > limits_.free_margin ? *avail - limits_.free_margin : 0;
  for (;;) {
    if (cancelled())
      return make_error(ec::cancelled,
                        "unpacking bundle " + archive_ + " was cancelled");
    struct archive_entry* e = nullptr;
    auto r = archive_read_next_header(ar_, &e);
    if (r == ARCHIVE_EOF)
      return {};
    if (r < ARCHIVE_WARN)
      return make_error(ec::invalid_argument,
                        fmt::format("bundle {} is not a readable tar: {}",
                                    archive_, archive_error_text(ar_)));
    if (auto ok = entry(e); !ok)
      return ok;
  }
}

} // namespace

caf::expected<bundle_contents> unpack_bundle(const std::string& archive,
                                             const std::string& dest_dir,
                                             std::string_view kind,
                                             std::atomic<bool>* cancel,
                                             const data_limits& limits) {
  if (kind != "image" && kind != "kernel")
    return make_error(ec::invalid_argument,
                      fmt::format("unpacking bundle {}: kind \"{}\" is neither "
                                  "image nor kernel",
                                  archive, kind));
  std::error_code fec;
  auto dest = fs::absolute(dest_dir, fec).lexically_normal().string();
  if (!dest.empty() && dest.size() > 1 && dest.back() == '/')
    dest.pop_back();
  bool created = false;
  if (fs::exists(dest, fec)) {
    if (!fs::is_directory(dest, fec) || !fs::is_empty(dest, fec))
      return make_error(ec::already_exists,
                        fmt::format("unpacking bundle {}: {} exists and is not "
                                    "an empty directory",
                                    archive, dest));
  } else {
    created = fs::create_directories(dest, fec);
    if (fec)
      return make_error(ec::unavailable,
                        fmt::format("unpacking bundle {}: cannot create {}: {}",
                                    archive, dest, fec.message()));
  }
  auto undo = [&](caf::error err) {
    // remove_tree: the archive may have made a tree too deep for
    // std::filesystem::remove_all.
    std::error_code ec2;
    if (created) {
      (void)remove_tree(dest);
    } else {
      for (auto& child : fs::directory_iterator(dest, ec2))
        (void)remove_tree(child.path().string());
    }
    return err;
  };
  unpacker u{archive, dest, kind, cancel, limits};
  if (auto ok = u.run(); !ok)
    return undo(ok.error());
  auto contents = check_bundle_contents(archive, dest, kind);
  if (!contents)
    return undo(contents.error());
  return contents;
}

} // namespace banger

#include "services/workspace_tar.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "services/error.hpp"

namespace banger::workspace {

namespace {

struct writer_ctx {
  const sink_fn* sink;
  std::uint64_t written = 0;
  bool stopped = false;
};

la_ssize_t on_write(struct archive*, void* client, const void* buf, size_t n) {
  auto* ctx = static_cast<writer_ctx*>(client);
  if (!(*ctx->sink)(static_cast<const char*>(buf), n)) {
    ctx->stopped = true;
    return -1;
  }
  ctx->written += n;
  return static_cast<la_ssize_t>(n);
}

struct archive_guard {
  struct archive* a = archive_write_new();
  struct archive_entry* e = archive_entry_new();
  ~archive_guard() {
    archive_entry_free(e);
    archive_write_free(a);
  }
};

} // namespace

caf::expected<std::uint64_t>
write_tar(const std::vector<const std::vector<entry>*>& lists,
          const sink_fn& sink) {
  archive_guard g;
  writer_ctx ctx{&sink};
  auto failed = [&](const std::string& what) -> caf::error {
    if (ctx.stopped)
      return make_error(ec::cancelled,
                        "the workspace stream was cut off by its reader");
    const char* why = archive_error_string(g.a);
    return make_error(ec::internal,
                      what + ": " + (why ? why : "libarchive failed"));
  };
  archive_write_set_format_pax_restricted(g.a);
  // Names go as their bytes, whatever the locale: the guest writes them back
  // as they came.
  archive_write_set_format_option(g.a, "pax", "hdrcharset", "BINARY");
  archive_write_set_bytes_per_block(g.a, 65536);
  archive_write_set_bytes_in_last_block(g.a, 1);
  if (archive_write_open(g.a, &ctx, nullptr, on_write, nullptr) != ARCHIVE_OK)
    return failed("starting the workspace stream");
  std::vector<char> buf(65536);
  for (const auto* list : lists)
    for (const auto& en : *list) {
      archive_entry_clear(g.e);
      archive_entry_copy_pathname(g.e, en.path.c_str());
      archive_entry_set_mtime(g.e, 0, 0);
      archive_entry_set_uid(g.e, 0);
      archive_entry_set_gid(g.e, 0);
      int fd = -1;
      switch (en.kind) {
      case entry_kind::dir:
        archive_entry_set_filetype(g.e, AE_IFDIR);
        archive_entry_set_perm(g.e, en.perm);
        break;
      case entry_kind::symlink:
        archive_entry_set_filetype(g.e, AE_IFLNK);
        archive_entry_set_perm(g.e, 0777);
        archive_entry_copy_symlink(g.e, en.data.c_str());
        break;
      case entry_kind::file:
        archive_entry_set_filetype(g.e, AE_IFREG);
        archive_entry_set_perm(g.e, en.perm);
        archive_entry_set_size(g.e, static_cast<la_int64_t>(en.size));
        if (!en.source.empty()) {
          fd = ::open(en.source.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
          if (fd < 0)
            return make_error(ec::internal,
                              "cannot read " + en.source + ": "
                                  + std::strerror(errno)
                                  + " (did it change during the prepare?)");
        }
        break;
      }
      if (archive_write_header(g.a, g.e) != ARCHIVE_OK) {
        if (fd >= 0)
          ::close(fd);
        return failed("writing the header of " + en.path);
      }
      if (en.kind != entry_kind::file)
        continue;
      if (fd < 0) {
        if (!en.data.empty()
            && archive_write_data(g.a, en.data.data(), en.data.size()) < 0)
          return failed("writing " + en.path);
        continue;
      }
      std::uint64_t left = en.size;
      while (left > 0) {
        auto want =
            static_cast<std::size_t>(std::min<std::uint64_t>(left, buf.size()));
        auto n = ::read(fd, buf.data(), want);
        if (n < 0 && errno == EINTR)
          continue;
        if (n < 0) {
          int err = errno;
          ::close(fd);
          return make_error(ec::internal, "cannot read " + en.source + ": "
                                              + std::strerror(err));
        }
        if (n == 0) { // shrank: pad to the announced size
          std::fill(buf.begin(), buf.end(), '\0');
          n = static_cast<ssize_t>(want);
        }
        if (archive_write_data(g.a, buf.data(), static_cast<std::size_t>(n))
            < 0) {
          ::close(fd);
          return failed("writing " + en.path);
        }
        left -= static_cast<std::uint64_t>(n);
      }
      ::close(fd);
    }
  if (archive_write_close(g.a) != ARCHIVE_OK)
    return failed("finishing the workspace stream");
  return ctx.written;
}

} // namespace banger::workspace

// fetch_bundle: one bundle from its catalog URL into work_dir, verified.

#include "services/bundle.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include <fmt/format.h>

#include "services/error.hpp"
#include "services/http_get.hpp"
#include "services/names.hpp"
#include "services/sha256.hpp"
#include "services/unique_fd.hpp"

namespace banger {

namespace fs = std::filesystem;

namespace {

std::string temp_name(const catalog_entry& e) {
  static std::atomic<std::uint64_t> counter{0};
  return fmt::format(".{}-{}.partial-{}-{}", e.kind, e.name, ::getpid(),
                     ++counter);
}

std::string space_hint(int err) {
  return err == ENOSPC || err == EDQUOT ? "; free some space there and retry"
                                        : "";
}

// Streams the source into an open file while hashing and counting.
struct receiver {
  const catalog_entry& entry;
  const bundle_fetch_options& opts;
  hashed_writer out;

  bool operator()(const char* data, std::size_t n) {
    if (!out.write(data, n))
      return false;
    if (opts.on_progress)
      opts.on_progress(out.done, entry.size);
    return true;
  }
};

// Copies a local file through the receiver; errors are about the source.
caf::expected<void> read_local(const std::string& path, receiver& rx,
                               const std::string& what) {
  unique_fd in{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (!in.valid()) {
    auto err = errno;
    return make_error(
        err == ENOENT ? ec::not_found : ec::unavailable,
        fmt::format("{}: cannot open {}: {}", what, path, std::strerror(err)));
  }
  std::vector<char> buf(1 << 20);
  for (;;) {
    if (rx.opts.cancel != nullptr && rx.opts.cancel->load())
      return make_error(ec::cancelled, what + ": cancelled");
    auto n = ::read(in.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return make_error(ec::unavailable,
                        fmt::format("{}: cannot read {}: {}", what, path,
                                    std::strerror(errno)));
    if (n == 0 || !rx(buf.data(), static_cast<std::size_t>(n)))
      return {};
  }
}

caf::expected<void> read_http(const std::string& url, receiver& rx,
                              const std::string& what) {
  http_options o;
  o.connect_timeout = rx.opts.connect_timeout;
  o.read_timeout = rx.opts.read_timeout;
  o.cancel = rx.opts.cancel;
  auto r = http_get(url, std::ref(rx), 1 << 16, o);
  auto status = r.answer.status;
  switch (r.outcome) {
  case http_outcome::done:
    break;
  case http_outcome::cancelled:
    return make_error(ec::cancelled, what + ": cancelled");
  case http_outcome::cut_off:
    return make_error(ec::bad_state,
                      fmt::format("{}: the download broke off after {} of {} "
                                  "bytes ({}); try again",
                                  what, rx.out.done, rx.entry.size, r.error));
  case http_outcome::unreachable:
    return make_error(ec::unavailable,
                      fmt::format("{}: cannot reach the server ({}); check "
                                  "the network",
                                  what, r.error));
  case http_outcome::too_big:
  case http_outcome::bad_redirect:
    return make_error(ec::protocol,
                      fmt::format("{}: {} (at {})", what, r.error, r.url));
  }
  if (status == 404 || status == 410)
    return make_error(ec::not_found,
                      fmt::format("{}: the server has no such file (HTTP {} "
                                  "from {}); the catalog is out of date",
                                  what, status, r.url));
  if (status != 200)
    return make_error(status >= 500 ? ec::unavailable : ec::protocol,
                      fmt::format("{}: HTTP {} from {} ({})", what, status,
                                  r.url, summarize_http_body(r.answer.body)));
  return {};
}

} // namespace

caf::expected<std::string> fetch_bundle(const catalog_entry& entry,
                                        const bundle_fetch_options& opts) {
  auto what = fmt::format("fetching {} \"{}\" from {}", entry.kind, entry.name,
                          entry.url);
  if (opts.work_dir.empty())
    return make_error(ec::invalid_argument, what + ": no work directory given");
  if (entry.size == 0 || !is_sha256_hex(entry.sha256))
    return make_error(ec::invalid_argument,
                      what + ": the catalog entry has no size or sha256");
  // The name becomes part of a file name below.
  if ((entry.kind != "image" && entry.kind != "kernel")
      || !validate_object_name(entry.kind, entry.name).empty())
    return make_error(ec::invalid_argument,
                      what + ": the entry's kind or name is not valid");
  std::error_code fec;
  fs::create_directories(opts.work_dir, fec);
  if (fec)
    return make_error(ec::unavailable,
                      fmt::format("{}: cannot create {}: {}", what,
                                  opts.work_dir, fec.message()));
  auto final_path = fs::path{opts.work_dir}
                    / fmt::format("{}-{}-{}.bundle", entry.kind, entry.name,
                                  entry.sha256.substr(0, 12));
  auto tmp = fs::path{opts.work_dir} / temp_name(entry);
  unique_fd fd{
      ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)};
  if (!fd.valid())
    return make_error(ec::unavailable,
                      fmt::format("{}: cannot create {}: {}", what,
                                  tmp.string(), std::strerror(errno)));
  auto discard = [&](caf::error err) {
    fd.reset();
    std::error_code ec2;
    fs::remove(tmp, ec2);
    return err;
  };
  receiver rx{entry, opts, hashed_writer(fd.get(), entry.size)};
  if (opts.on_progress)
    opts.on_progress(0, entry.size);
  caf::expected<void> got{caf::unit};
  if (split_url(entry.url))
    got = read_http(entry.url, rx, what);
  else if (auto p = file_url_path(entry.url))
    got = read_local(*p, rx, what);
  else if (entry.url.find("://") == std::string::npos)
    got = read_local(entry.url, rx, what);
  else
    got = make_error(ec::invalid_argument,
                     what + ": only http, https and file URLs are supported");
  if (!got)
    return discard(got.error());
  if (rx.out.write_errno == 0 && ::close(fd.release()) != 0)
    rx.out.write_errno = errno;
  if (rx.out.write_errno != 0)
    return discard(
        make_error(ec::unavailable,
                   fmt::format("{}: writing {} failed: {}{}", what,
                               tmp.string(), std::strerror(rx.out.write_errno),
                               space_hint(rx.out.write_errno))));
  if (rx.out.too_long)
    return discard(make_error(
        ec::bad_state, fmt::format("{}: it is longer than the {} bytes the "
                                   "catalog says; the catalog or the file is "
                                   "wrong",
                                   what, entry.size)));
  if (rx.out.done != entry.size)
    return discard(make_error(
        ec::bad_state, fmt::format("{}: got {} bytes, the catalog says {}; the "
                                   "download was cut short or the catalog is "
                                   "wrong",
                                   what, rx.out.done, entry.size)));
  if (auto actual = rx.out.hash.hex(); actual != entry.sha256)
    return discard(
        make_error(ec::bad_state,
                   fmt::format("{}: sha256 is {}, the catalog says {}; the "
                               "file is corrupt or was replaced, refusing it",
                               what, actual, entry.sha256)));
  fs::rename(tmp, final_path, fec);
  if (fec)
    return discard(make_error(ec::unavailable,
                              fmt::format("{}: cannot rename {} to {}: {}",
                                          what, tmp.string(),
                                          final_path.string(), fec.message())));
  return final_path.string();
}

} // namespace banger

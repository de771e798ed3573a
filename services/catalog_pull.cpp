#include "services/catalog_pull.hpp"

#include <filesystem>

#include <fmt/format.h>

#include "services/bundle.hpp"
#include "services/error.hpp"
#include "services/staging.hpp"

namespace banger {

namespace {

caf::error prefixed(const catalog_pull_job& job, const caf::error& err) {
  auto msg = error_message(err);
  auto head = fmt::format("pulling {} {} from the catalog", job.entry.kind,
                          job.entry.name);
  if (msg.rfind(head, 0) == 0)
    return err;
  return make_error(error_code(err), head + ": " + msg);
}

/// Download, unpack and publish; `make` turns the published contents into
/// the result.
template <class Info, class Make>
caf::expected<Info> pull(const catalog_pull_job& job, Make make) {
  auto staging = make_staging_dir(job.parent_dir, "pull");
  if (!staging)
    return prefixed(job, staging.error());
  auto run = [&]() -> caf::expected<Info> {
    bundle_fetch_options fo;
    fo.work_dir = *staging;
    fo.cancel = job.cancel;
    std::string what = fmt::format("{} ({})", job.entry.name, job.entry.arch);
    auto report = throttle_progress(job.on_progress);
    fo.on_progress = [&](std::uint64_t done, std::uint64_t total) {
      report({"download", what, done, total});
    };
    auto archive = fetch_bundle(job.entry, fo);
    if (!archive)
      return archive.error();
    report({"unpack", "unpacking the bundle", 0, 0});
    auto out = *staging + "/out";
    auto contents = unpack_bundle(*archive, out, job.entry.kind, job.cancel);
    if (!contents)
      return contents.error();
    std::error_code ec;
    std::filesystem::remove(*archive, ec); // free the space before the rename
    auto final_dir = job.parent_dir + "/" + job.name;
    if (auto p = publish_dir(out, final_dir); !p)
      return p.error();
    // Paths inside the published directory, not the staging one.
    auto moved = [&](const std::string& p) {
      return p.empty() ? p : final_dir + p.substr(out.size());
    };
    return make(*contents, moved);
  };
  auto r = run();
  discard_dir(*staging);
  if (!r)
    return prefixed(job, r.error());
  return r;
}

} // namespace

caf::expected<image_info> pull_catalog_image(const catalog_pull_job& job) {
  return pull<image_info>(job, [&](const bundle_contents& c, auto moved) {
    image_info info;
    info.name = job.name;
    info.kernel = job.kernel;
    info.rootfs = moved(c.rootfs);
    info.work_seed = moved(c.work_seed);
    std::error_code ec;
    info.size_bytes = std::filesystem::file_size(info.rootfs, ec);
    info.source = "catalog:" + job.entry.name;
    info.digest = "sha256:" + job.entry.sha256;
    return info;
  });
}

caf::expected<kernel_info> pull_catalog_kernel(const catalog_pull_job& job) {
  return pull<kernel_info>(job, [&](const bundle_contents& c, auto moved) {
    kernel_info info;
    info.name = job.name;
    info.vmlinux = moved(c.kernel_image);
    info.initrd = moved(c.initrd);
    info.version = c.manifest.version.empty() ? job.entry.version
                                              : c.manifest.version;
    info.source = "catalog:" + job.entry.name;
    info.digest = "sha256:" + job.entry.sha256;
    return info;
  });
}

} // namespace banger

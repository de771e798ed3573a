#include "services/image_build.hpp"

#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "messages/wire.hpp"
#include "services/error.hpp"
#include "services/process.hpp"
#include "services/staging.hpp"
#include "services/work_disk.hpp"

namespace banger {

namespace {

caf::expected<void> step(const std::string& what,
                         const std::vector<std::string>& argv,
                         std::initializer_list<int> ok_codes = {0}) {
  run_options ro;
  ro.timeout = std::chrono::minutes(30);
  auto r = run(argv, ro);
  if (!r)
    return make_error(ec::unavailable, what + ": " + error_message(r.error()));
  for (int code : ok_codes)
    if (r->exit_code == code)
      return {};
  auto detail = r->err.empty() ? r->out : r->err;
  return make_error(ec::unavailable,
                    fmt::format("{} failed (exit {}): {}", what, r->exit_code,
                                detail.substr(0, 500)));
}

caf::expected<image_info> build_into(const image_build_job& job,
                                     const std::string& staging) {
  auto dir = staging + "/image";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  auto rootfs = dir + "/rootfs.ext4";
  // -S 4k keeps runs of zeros sparse; -O raw is what every image is.
  if (auto s = step("qemu-img convert of " + job.root_disk,
                    {job.qemu_img, "convert", "-q", "-S", "4k", "-O", "raw",
                     job.root_disk, rootfs});
      !s)
    return s.error();
  auto size = std::filesystem::file_size(rootfs, ec);
  if (ec)
    return make_error(ec::internal, "cannot stat " + rootfs);
  if (job.size_bytes != 0 && job.size_bytes < size)
    return make_error(ec::invalid_argument,
                      fmt::format("--size {} is smaller than the base image "
                                  "({} bytes); images can only grow",
                                  job.size_bytes, size));
  // e2fsck exits 1 when it fixed something (e.g. the orphan list a clean
  // poweroff may still leave), which is fine; more is not.
  if (auto s = step("e2fsck of the new image", {"e2fsck", "-fy", rootfs}, {0, 1});
      !s)
    return s.error();
  if (job.size_bytes > size) {
    std::filesystem::resize_file(rootfs, job.size_bytes, ec);
    if (ec)
      return make_error(ec::unavailable, "cannot grow " + rootfs + " to "
                                           + std::to_string(job.size_bytes)
                                           + " bytes: " + ec.message());
    if (auto s = step("resize2fs of the new image", {"resize2fs", rootfs}); !s)
      return s.error();
    size = job.size_bytes;
  }
  bool seeded = !job.work_disk.empty() && std::filesystem::exists(job.work_disk);
  if (seeded)
    if (auto r = seed_from_work_disk(job.work_disk, dir + "/work-seed.ext4"); !r)
      return r.error();
  wire::json m = {{"kind", "image"},   {"name", job.name},
                  {"source", "build:" + job.base}, {"kernel", job.kernel}};
  std::ofstream(dir + "/manifest.json") << m.dump(2) << '\n';
  auto final_dir = job.images_dir + "/" + job.name;
  if (auto p = publish_dir(dir, final_dir); !p)
    return p.error();
  image_info info;
  info.name = job.name;
  info.kernel = job.kernel;
  info.rootfs = final_dir + "/rootfs.ext4";
  if (seeded)
    info.work_seed = final_dir + "/work-seed.ext4";
  info.size_bytes = size;
  info.source = "build:" + job.base;
  return info;
}

} // namespace

caf::expected<image_info> publish_root_disk(const image_build_job& job) {
  auto staging = make_staging_dir(job.images_dir, "build");
  if (!staging)
    return staging.error();
  auto r = build_into(job, *staging);
  discard_dir(*staging);
  if (!r)
    return make_error(error_code(r.error()),
                      "image build " + job.name + ": "
                        + error_message(r.error()));
  return r;
}

} // namespace banger

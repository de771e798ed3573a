#include "services/image_build.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fcntl.h>
#include <sys/stat.h>

#include <fmt/format.h>

#include "messages/wire.hpp"
#include "services/error.hpp"
#include "services/host_tool.hpp"
#include "services/process.hpp"
#include "services/unique_fd.hpp"
#include "services/staging.hpp"
#include "services/work_disk.hpp"

namespace banger {

namespace {

// One tool on the build VM's files; `ok_codes` are the exits that count as
// success.
caf::expected<void> step(const std::string& what, guest_file_tool t,
                         std::initializer_list<int> ok_codes = {0}) {
  t.timeout = std::chrono::minutes(30);
  auto r = run_guest_file_tool(t);
  if (!r)
    return make_error(ec::unavailable, what + ": " + error_message(r.error()));
  if (!r->timed_out && r->signal == 0)
    for (int code : ok_codes)
      if (r->exit_code == code)
        return {};
  auto detail = r->timed_out ? std::string{"it did not finish within 30 minutes"}
                : r->signal != 0
                  ? fmt::format("killed by signal {} (a resource limit)", r->signal)
                  : (r->err.empty() ? r->out : r->err);
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
  // The overlay's size is its base's (qemu-img create without a size); the
  // output is made here at that size, so the tool writes no further.
  std::uint64_t size = 0;
  {
    struct stat st {};
    if (::stat(job.base_rootfs.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
      return make_error(ec::not_found, "the base image's root filesystem "
                                         + job.base_rootfs
                                         + " is missing; was the image removed?");
    size = static_cast<std::uint64_t>(st.st_size);
    unique_fd out{::open(rootfs.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                         0644)};
    if (!out.valid() || ::ftruncate(out.get(), static_cast<off_t>(size)) != 0)
      return make_error(ec::unavailable, "cannot create " + rootfs + ": "
                                           + std::strerror(errno));
  }
  guest_file_tool flatten;
  flatten.argv = flatten_argv(job.qemu_img);
  flatten.files = {{job.root_disk, false}, {job.base_rootfs, false}, {rootfs, true}};
  flatten.max_file_bytes = size;
  if (auto s = step("qemu-img convert of " + job.root_disk, flatten); !s)
    return s.error();
  if (job.size_bytes != 0 && job.size_bytes < size)
    return make_error(ec::invalid_argument,
                      fmt::format("--size {} is smaller than the base image "
                                  "({} bytes); images can only grow",
                                  job.size_bytes, size));
  // e2fsck exits 1 when it fixed something (e.g. the orphan list a clean
  // poweroff may still leave), which is fine; more is not.
  if (auto s = step("e2fsck of the new image",
                    {{"e2fsck", "-fy", "{0}"}, {{rootfs, true}}}, {0, 1});
      !s)
    return s.error();
  if (job.size_bytes > size) {
    std::filesystem::resize_file(rootfs, job.size_bytes, ec);
    if (ec)
      return make_error(ec::unavailable, "cannot grow " + rootfs + " to "
                                           + std::to_string(job.size_bytes)
                                           + " bytes: " + ec.message());
    if (auto s = step("resize2fs of the new image",
                      {{"resize2fs", "{0}"}, {{rootfs, true}}});
        !s)
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

std::vector<std::string> flatten_argv(const std::string& qemu_img) {
  // -n: the output exists (ours, sized); -S 4k keeps runs of zeros sparse.
  return {qemu_img,
          "convert",
          "-q",
          "-n",
          "--target-is-zero",
          "-S",
          "4k",
          "--image-opts",
          "driver=qcow2,file.driver=file,file.filename={0},"
          "backing.driver=raw,backing.file.driver=file,backing.file.filename={1}",
          "--target-image-opts",
          "driver=raw,file.driver=file,file.filename={2}"};
}

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

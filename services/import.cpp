#include "services/import.hpp"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <utility>
#include <vector>

#include "services/error.hpp"
#include "services/file_magic.hpp"
#include "services/kernel_discovery.hpp"
#include "services/process.hpp"
#include "services/timefmt.hpp"

namespace banger {

namespace fs = std::filesystem;

namespace {

caf::error not_a_file(const std::string& what, const std::string& path,
                      const std::string& hint) {
  return make_error(ec::invalid_argument, what + " " + path + " " + hint);
}

caf::expected<void> copy_sparse(const std::string& from,
                                const std::string& to) {
  auto r = run({"cp", "--sparse=always", "--", from, to});
  if (!r)
    return r.error();
  if (r->exit_code != 0)
    return make_error(ec::unavailable,
                      "cannot copy " + from + " to " + to + ": " + r->err);
  return {};
}

/// Copies a modules tree (files, directories, symlinks as links). Links
/// that point outside it (lib/modules/<ver>/build -> /usr/src/...) are
/// dropped: they are dangling on other hosts and bundles refuse them.
caf::expected<void> copy_modules(const std::string& from,
                                 const std::string& to) {
  std::error_code ec;
  fs::copy(from, to,
           fs::copy_options::recursive | fs::copy_options::copy_symlinks, ec);
  if (ec)
    return make_error(ec::unavailable, "cannot copy the modules " + from
                                         + " to " + to + ": " + ec.message());
  auto root = fs::path{to}.lexically_normal();
  std::vector<fs::path> escaping;
  for (auto it = fs::recursive_directory_iterator(root, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_symlink(ec))
      continue;
    auto target = fs::read_symlink(it->path(), ec);
    auto resolved = (it->path().parent_path() / target).lexically_normal();
    auto rel = resolved.lexically_relative(root);
    if (target.is_absolute() || rel.empty() || *rel.begin() == "..")
      escaping.push_back(it->path());
  }
  if (ec)
    return make_error(ec::unavailable,
                      "cannot list the modules copied to " + to + ": "
                        + ec.message());
  for (auto& p : escaping)
    fs::remove(p, ec);
  return {};
}

/// A fresh staging directory next to the final one (same filesystem, so the
/// final rename is atomic).
caf::expected<std::string> staging_dir(const std::string& parent) {
  auto dir = parent + "/.import-" + random_id();
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return make_error(ec::unavailable,
                      "cannot create " + dir + ": " + ec.message());
  return dir;
}

caf::expected<void> publish(const std::string& staging,
                            const std::string& final_dir) {
  std::error_code ec;
  fs::rename(staging, final_dir, ec);
  if (ec) {
    fs::remove_all(staging, ec);
    return make_error(ec::already_exists,
                      "cannot move the import into " + final_dir
                        + " (does it exist already?)");
  }
  return {};
}

} // namespace

caf::expected<image_info> import_image(const std::string& images_dir,
                                       const image_import_request& req) {
  std::error_code ec;
  if (!fs::is_regular_file(req.rootfs, ec))
    return not_a_file("rootfs", req.rootfs,
                      "is not a file; pass --rootfs PATH to a raw ext4 image");
  if (!is_ext_fs(req.rootfs))
    return not_a_file("rootfs", req.rootfs,
                      "is not an ext2/3/4 filesystem image; make one with "
                      "mke2fs -t ext4 -d DIR FILE SIZE");
  if (!req.work_seed.empty() && !is_ext_fs(req.work_seed))
    return not_a_file("work seed", req.work_seed,
                      "is not an ext2/3/4 filesystem image; make one of the "
                      "image's /root with mke2fs -t ext4 -d DIR/root FILE 64M");
  auto staging = staging_dir(images_dir);
  if (!staging)
    return staging.error();
  std::vector<std::pair<std::string, std::string>> files{{req.rootfs, "rootfs.ext4"}};
  if (!req.work_seed.empty())
    files.emplace_back(req.work_seed, "work-seed.ext4");
  for (auto& [from, to] : files)
    if (auto r = copy_sparse(from, *staging + "/" + to); !r) {
      fs::remove_all(*staging, ec);
      return r.error();
    }
  auto final_dir = images_dir + "/" + req.name;
  if (auto r = publish(*staging, final_dir); !r)
    return r.error();
  image_info info;
  info.name = req.name;
  info.kernel = req.kernel;
  info.rootfs = final_dir + "/rootfs.ext4";
  if (!req.work_seed.empty())
    info.work_seed = final_dir + "/work-seed.ext4";
  info.size_bytes = fs::file_size(info.rootfs, ec);
  return info;
}

caf::expected<kernel_info> import_kernel(const std::string& kernels_dir,
                                         const kernel_import_request& req) {
  auto found = discover_kernel_files(req.from);
  if (!found)
    return found.error();
  auto staging = staging_dir(kernels_dir);
  if (!staging)
    return staging.error();
  auto fail = [&](caf::error err) {
    std::error_code ec;
    fs::remove_all(*staging, ec);
    return err;
  };
  // The file keeps a name saying what it is: QEMU boots both.
  auto kernel_name = found->kernel_is_elf ? "vmlinux" : "vmlinuz";
  std::vector<std::pair<std::string, std::string>> files{
    {found->kernel, kernel_name}};
  if (!found->initrd.empty())
    files.emplace_back(found->initrd, "initrd.img");
  for (auto& [from, to] : files)
    if (auto r = copy_sparse(from, *staging + "/" + to); !r)
      return fail(r.error());
  if (!found->modules.empty())
    if (auto r = copy_modules(found->modules, *staging + "/modules"); !r)
      return fail(r.error());
  if (!found->version.empty()) {
    std::ofstream out(*staging + "/version");
    out << found->version << "\n";
    if (!out.flush())
      return fail(make_error(ec::unavailable,
                             "cannot write " + *staging + "/version"));
  }
  auto final_dir = kernels_dir + "/" + req.name;
  if (auto r = publish(*staging, final_dir); !r)
    return r.error();
  kernel_info info;
  info.name = req.name;
  info.vmlinux = final_dir + "/" + kernel_name;
  if (!found->initrd.empty())
    info.initrd = final_dir + "/initrd.img";
  info.version = found->version;
  return info;
}

void discard_import(const std::string& file_in_dir) {
  std::error_code ec;
  fs::remove_all(fs::path(file_in_dir).parent_path(), ec);
}

} // namespace banger

#include "services/import.hpp"

#include <cstring>
#include <filesystem>
#include <fstream>

#include "services/error.hpp"
#include "services/process.hpp"
#include "services/timefmt.hpp"

namespace banger {

namespace fs = std::filesystem;

namespace {

bool has_bytes_at(const std::string& path, std::streamoff offset,
                  const char* magic, std::size_t n) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(offset);
  std::string buf(n, '\0');
  return in.read(buf.data(), static_cast<std::streamsize>(n))
         && std::memcmp(buf.data(), magic, n) == 0;
}

bool is_ext_fs(const std::string& path) {
  // The ext2/3/4 superblock starts at 1024; its magic 0xEF53 sits at +56.
  return has_bytes_at(path, 1024 + 56, "\x53\xEF", 2);
}

bool is_elf(const std::string& path) {
  return has_bytes_at(path, 0, "\x7f" "ELF", 4);
}

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
  auto staging = staging_dir(images_dir);
  if (!staging)
    return staging.error();
  auto target = *staging + "/rootfs.ext4";
  if (auto r = copy_sparse(req.rootfs, target); !r) {
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
  info.size_bytes = fs::file_size(info.rootfs, ec);
  return info;
}

caf::expected<kernel_info> import_kernel(const std::string& kernels_dir,
                                         const kernel_import_request& req) {
  std::error_code ec;
  if (!fs::is_directory(req.from, ec))
    return not_a_file("kernel directory", req.from,
                      "is not a directory; pass --from DIR holding vmlinux "
                      "and initrd.img");
  auto vmlinux = req.from + "/vmlinux";
  if (!fs::is_regular_file(vmlinux, ec) || !is_elf(vmlinux))
    return not_a_file("kernel", vmlinux,
                      "is missing or not an ELF vmlinux; extract it from a "
                      "bzImage (scripts/build-kernel.sh does)");
  std::string initrd;
  for (auto name : {"initrd.img", "initrd", "initramfs.img"})
    if (fs::is_regular_file(req.from + "/" + name, ec)) {
      initrd = req.from + "/" + name;
      break;
    }
  if (initrd.empty())
    return not_a_file("kernel directory", req.from,
                      "has no initrd.img; banger's guests need the "
                      "initramfs with banger-init (scripts/build-kernel.sh)");
  std::string version;
  if (std::ifstream in(req.from + "/version"); in)
    std::getline(in, version);
  auto staging = staging_dir(kernels_dir);
  if (!staging)
    return staging.error();
  for (auto [from, to] : {std::pair{vmlinux, std::string("vmlinux")},
                          std::pair{initrd, std::string("initrd.img")}}) {
    if (auto r = copy_sparse(from, *staging + "/" + to); !r) {
      fs::remove_all(*staging, ec);
      return r.error();
    }
  }
  auto final_dir = kernels_dir + "/" + req.name;
  if (auto r = publish(*staging, final_dir); !r)
    return r.error();
  kernel_info info;
  info.name = req.name;
  info.vmlinux = final_dir + "/vmlinux";
  info.initrd = final_dir + "/initrd.img";
  info.version = version;
  return info;
}

void discard_import(const std::string& file_in_dir) {
  std::error_code ec;
  fs::remove_all(fs::path(file_in_dir).parent_path(), ec);
}

} // namespace banger

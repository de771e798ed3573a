#include "services/bundle_layout.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include <archive_entry.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "services/error.hpp"
#include "services/file_magic.hpp"

namespace banger {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

const std::vector<std::string> image_files{"manifest.json", "rootfs.ext4",
                                           "work-seed.ext4"};
const std::vector<std::string> kernel_files{"manifest.json", "vmlinux",
                                            "vmlinuz", "initrd.img"};

std::string listing(std::string_view kind) {
  std::string out;
  for (auto& n : kind == "image" ? image_files : kernel_files)
    out += (out.empty() ? "" : ", ") + n;
  return kind == "kernel" ? out + ", modules/" : out;
}

std::string type_name(unsigned type) {
  switch (type) {
  case AE_IFCHR:
  case AE_IFBLK:
    return "a device node";
  case AE_IFIFO:
    return "a fifo";
  case AE_IFSOCK:
    return "a socket";
  case AE_IFLNK:
    return "a symlink";
  case AE_IFDIR:
    return "a directory";
  default:
    return "not a regular file";
  }
}

// A symlink at link_comps (under modules/) pointing at `target`: relative,
// "../" only as a prefix (the link's own directories are real ones, so
// leading ".." climbs them exactly), and ending inside modules/.
std::string check_link(const std::vector<std::string>& link_comps,
                       const std::string& target) {
  if (target.empty())
    return "is a symlink with an empty target";
  if (target.front() == '/')
    return "is a symlink to an absolute path (" + target + ")";
  auto depth = static_cast<long>(link_comps.size()) - 1; // its directory
  bool descending = false;
  std::size_t i = 0;
  while (i <= target.size()) {
    auto j = target.find('/', i);
    if (j == std::string::npos)
      j = target.size();
    auto c = target.substr(i, j - i);
    i = j + 1;
    if (c.empty() || c == ".")
      continue;
    if (c == "..") {
      if (descending)
        return "is a symlink whose target (" + target
               + ") climbs after descending, which banger cannot check";
      if (--depth < 1)
        return "is a symlink leaving modules/ (" + target + ")";
      continue;
    }
    descending = true;
    ++depth;
  }
  return {};
}

} // namespace

bundle_path split_bundle_path(const std::string& raw) {
  bundle_path out;
  if (raw.empty()) {
    out.error = "has an empty name";
    return out;
  }
  if (raw.front() == '/') {
    out.error = "is an absolute path";
    return out;
  }
  std::size_t i = 0;
  while (i <= raw.size()) {
    auto j = raw.find('/', i);
    if (j == std::string::npos)
      j = raw.size();
    auto c = raw.substr(i, j - i);
    i = j + 1;
    if (c.empty() || c == ".")
      continue;
    if (c == "..") {
      out.error = "contains '..'";
      return out;
    }
    out.comps.push_back(std::move(c));
  }
  return out;
}

std::string join_bundle_path(const std::vector<std::string>& comps) {
  std::string out;
  for (auto& c : comps)
    out += (out.empty() ? "" : "/") + c;
  return out;
}

std::string check_bundle_entry(std::string_view kind,
                               const std::vector<std::string>& comps,
                               unsigned type, const char* symlink) {
  const auto& top = comps.front();
  if (kind == "kernel" && top == "modules") {
    if (comps.size() == 1)
      return type == AE_IFDIR ? "" : "must be a directory";
    if (type == AE_IFREG || type == AE_IFDIR)
      return {};
    if (type == AE_IFLNK)
      return check_link(comps, symlink != nullptr ? symlink : "");
    return "is " + type_name(type)
           + "; bundles hold only files, directories and symlinks";
  }
  const auto& names = kind == "image" ? image_files : kernel_files;
  if (std::find(names.begin(), names.end(), top) == names.end())
    return fmt::format("is not part of {} {} bundle (it may hold {})",
                       kind == "image" ? "an" : "a", kind, listing(kind));
  if (comps.size() > 1 || type != AE_IFREG)
    return fmt::format("must be a regular file, not {}",
                       comps.size() > 1 ? "a directory" : type_name(type));
  return {};
}

caf::expected<bundle_manifest> parse_bundle_manifest(std::string_view text,
                                                     const std::string& where) {
  auto bad = [&](const std::string& why) {
    return make_error(
        ec::invalid_argument,
        fmt::format("{}: {}; the bundle is malformed", where, why));
  };
  json j;
  try {
    j = json::parse(text);
  } catch (const std::exception& e) {
    return bad(fmt::format("not valid JSON ({})", e.what()));
  }
  if (!j.is_object())
    return bad("not a JSON object");
  bundle_manifest m;
  for (auto [key, field] :
       {std::pair{"kind", &m.kind}, std::pair{"name", &m.name},
        std::pair{"arch", &m.arch}, std::pair{"kernel", &m.kernel},
        std::pair{"version", &m.version}, std::pair{"distro", &m.distro}}) {
    if (!j.contains(key))
      continue;
    if (!j[key].is_string())
      return bad(fmt::format("\"{}\" must be a string", key));
    *field = j[key].get<std::string>();
  }
  if (m.kind != "image" && m.kind != "kernel")
    return bad(
        fmt::format("\"kind\" is \"{}\", not \"image\" or \"kernel\"", m.kind));
  return m;
}

caf::expected<bundle_contents> check_bundle_contents(const std::string& archive,
                                                     const std::string& dir,
                                                     std::string_view kind) {
  auto bad = [&](const std::string& why) {
    return make_error(ec::invalid_argument,
                      fmt::format("bundle {}: {}; it is not a usable {} bundle",
                                  archive, why, kind));
  };
  auto present = [&](const char* name) {
    struct stat st {};
    return ::lstat((dir + "/" + name).c_str(), &st) == 0;
  };
  bundle_contents out;
  out.dir = dir;
  out.manifest_path = dir + "/manifest.json";
  if (!present("manifest.json"))
    return bad("manifest.json is missing");
  std::string text(64 * 1024 + 1, '\0');
  std::ifstream in(out.manifest_path, std::ios::binary);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > 64 * 1024)
    return bad("manifest.json is larger than 64 KiB");
  auto m = parse_bundle_manifest(text, "bundle " + archive + ": manifest.json");
  if (!m)
    return m.error();
  if (m->kind != kind)
    return bad(
        fmt::format("manifest.json says it holds {} \"{}\"", m->kind, m->name));
  out.manifest = std::move(*m);
  if (kind == "image") {
    if (!present("rootfs.ext4"))
      return bad("rootfs.ext4 is missing");
    out.rootfs = dir + "/rootfs.ext4";
    if (!is_ext_fs(out.rootfs))
      return bad("rootfs.ext4 is not an ext2/3/4 filesystem image");
    if (present("work-seed.ext4")) {
      out.work_seed = dir + "/work-seed.ext4";
      if (!is_ext_fs(out.work_seed))
        return bad("work-seed.ext4 is not an ext2/3/4 filesystem image");
    }
    return out;
  }
  if (present("vmlinux")) {
    out.kernel_image = dir + "/vmlinux";
    out.kernel_is_elf = true;
    if (!is_elf(out.kernel_image))
      return bad("vmlinux is not an ELF kernel");
  } else if (present("vmlinuz")) {
    out.kernel_image = dir + "/vmlinuz";
    out.kernel_is_elf = is_elf(out.kernel_image);
    if (!out.kernel_is_elf && !is_bzimage(out.kernel_image)
        && !is_arm64_image(out.kernel_image))
      return bad("vmlinuz is neither a bzImage nor an arm64 Image");
  } else {
    return bad("it has neither vmlinux nor vmlinuz");
  }
  if (present("initrd.img"))
    out.initrd = dir + "/initrd.img";
  if (present("modules"))
    out.modules = dir + "/modules";
  return out;
}

} // namespace banger
